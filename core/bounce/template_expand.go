package bounce

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// values are what a template's $names expand to.
type values struct {
	host                 string        // $myhostname
	delayWarning, maxAge time.Duration // $delay_warning_time, $maximal_queue_lifetime
}

// timeUnits are the suffixes of bounce(5)'s time parameters
// ($delay_warning_time_hours), and what each divides the time by.
var timeUnits = map[string]time.Duration{
	"seconds": time.Second,
	"minutes": time.Minute,
	"hours":   time.Hour,
	"days":    24 * time.Hour,
	"weeks":   7 * 24 * time.Hour,
}

// errNames lists what Sluice expands, for an error about a name it does
// not.
var errNames = errors.New("the names Sluice expands are $myhostname, $mydomain, $delay_warning_time and " +
	"$maximal_queue_lifetime, the last two also with _seconds, _minutes, _hours, _days or _weeks; $$ is a $")

// expand returns s with its $names expanded as Postfix's mac_expand does
// a template's text: $name, ${name} and $(name), a name being letters,
// digits and underscores; $$ is a dollar. Postfix knows every main.cf
// parameter; Sluice those of them its config has: myhostname (hostname),
// mydomain (hostname without its first label), delay_warning_time
// ([delivery] delay_warning) and maximal_queue_lifetime (max_age). A
// name it does not know, a $ before no name and ${name?text} or
// ${name:text} (conditionals, which no bounce template needs) are errors.
func expand(s string, v values) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '$')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		i += j + 1
		var name string
		switch {
		case i < len(s) && s[i] == '$':
			b.WriteByte('$')
			i++
			continue
		case i < len(s) && (s[i] == '{' || s[i] == '('):
			end := strings.IndexByte(s[i:], map[byte]byte{'{': '}', '(': ')'}[s[i]])
			if end < 0 {
				return "", fmt.Errorf("bad $name syntax: %c without its end", s[i])
			}
			inner := s[i+1 : i+end]
			n := nameLen(inner)
			switch {
			case n > 0 && n < len(inner) && (inner[n] == '?' || inner[n] == ':'):
				return "", fmt.Errorf("$%c%s%c: conditional expansions (?, :) are not supported", s[i], inner, s[i+end])
			case n == 0 || n < len(inner):
				return "", fmt.Errorf("bad $name syntax: $%c%s%c", s[i], inner, s[i+end])
			}
			name = inner
			i += end + 1
		default:
			n := nameLen(s[i:])
			if n == 0 {
				return "", fmt.Errorf("bad $name syntax: a $ before no name (write $$ for a $)")
			}
			name = s[i : i+n]
			i += n
		}
		val, err := lookup(name, v)
		if err != nil {
			return "", err
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// lookup is the value of the template parameter name.
func lookup(name string, v values) (string, error) {
	switch name {
	case "myhostname":
		return v.host, nil
	case "mydomain":
		// Postfix's default mydomain: myhostname without its first label.
		if _, d, ok := strings.Cut(v.host, "."); ok && d != "" {
			return d, nil
		}
		return "localdomain", nil
	case "delay_warning_time":
		return postfixTime(v.delayWarning), nil
	case "maximal_queue_lifetime":
		return postfixTime(v.maxAge), nil
	}
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"delay_warning_time_", v.delayWarning}, {"maximal_queue_lifetime_", v.maxAge}} {
		if suffix, ok := strings.CutPrefix(name, p.name); ok {
			unit, ok := timeUnits[suffix]
			if !ok {
				return "", fmt.Errorf("unrecognized suffix %q in $%s: want seconds, minutes, hours, days or weeks", suffix, name)
			}
			// A whole number, rounded down, as Postfix divides.
			return strconv.FormatInt(int64(p.d/unit), 10), nil
		}
	}
	return "", fmt.Errorf("undefined $%s: %w", name, errNames)
}

// postfixTime writes d as a main.cf time is written: a number and the
// largest unit that divides it (5d, 4h, 90m).
func postfixTime(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		s    string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if d != 0 && d%u.unit == 0 {
			return strconv.FormatInt(int64(d/u.unit), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

// nameLen is the length of the parameter name s begins with.
func nameLen(s string) int {
	n := 0
	for n < len(s) && (isAlnum(s[n]) || s[n] == '_') {
		n++
	}
	return n
}

// expandText is the template's text with its $names expanded, each line
// ended by CRLF. The names were checked when the file was parsed.
func (tp *Template) expandText(v values) string {
	var b strings.Builder
	for _, l := range tp.text {
		s, err := expand(l.s, v)
		if err != nil {
			s = l.s // not reached: parseTemplate expanded every line
		}
		b.WriteString(s + "\r\n")
	}
	return b.String()
}
