package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// pfParam is one main.cf parameter as written.
type pfParam struct {
	name, value string
	line        int
}

// pfConf is a Postfix configuration directory read for import-postfix:
// main.cf's parameters, master.cf's services, and the bookkeeping of
// which parameters the import used, so that the rest can be listed.
type pfConf struct {
	dir      string
	params   []pfParam
	byName   map[string]int // index in params
	services []pfService
	used     map[string]bool
	// hostname is gethostname(), for Postfix's default myhostname.
	hostname string
	// expanded are the parameters main.cf sets that another's value
	// named ($mydomain), in the order first met.
	expanded []string
	// err is the first parameter expansion that failed (a loop, or
	// text past pfExpansionLimit).
	err error
}

// pfDefaults are Postfix's defaults (postconf(5)) for the parameters the
// import expands or reads when main.cf does not set them. myhostname and
// mydomain are derived (pfConf.value).
var pfDefaults = map[string]string{
	"myorigin":               "$myhostname",
	"mydestination":          "$myhostname, localhost.$mydomain, localhost",
	"config_directory":       "/etc/postfix",
	"queue_directory":        "/var/spool/postfix",
	"data_directory":         "/var/lib/postfix",
	"mail_name":              "Postfix",
	"inet_interfaces":        "all",
	"inet_protocols":         "all",
	"message_size_limit":     "10240000",
	"maximal_queue_lifetime": "5d",
	"bounce_queue_lifetime":  "5d",
	"delay_warning_time":     "0h",
	"smtpd_delay_reject":     "yes",
	"soft_bounce":            "no",
	"milter_default_action":  "tempfail",
	"smtpd_sasl_type":        "cyrus",
	"virtual_alias_domains":  "$virtual_alias_maps",
}

// readPostfix reads dir's main.cf and, when there is one, master.cf.
func readPostfix(dir, hostname string) (*pfConf, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", dir, pathErr(err))
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("directory %s: not a directory", dir)
	}
	p := &pfConf{dir: dir, byName: map[string]int{}, used: map[string]bool{}, hostname: hostname}
	main, err := pfReadFile(filepath.Join(dir, "main.cf"))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "main.cf"), pathErr(err))
	}
	for _, l := range pfLogicalLines(main) {
		name, value, ok := strings.Cut(l.text, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%s:%d: want name = value", filepath.Join(dir, "main.cf"), l.line)
		}
		// The last setting of a parameter wins, as in Postfix.
		if i, ok := p.byName[name]; ok {
			p.params[i].value, p.params[i].line = strings.TrimSpace(value), l.line
			continue
		}
		p.byName[name] = len(p.params)
		p.params = append(p.params, pfParam{name: name, value: strings.TrimSpace(value), line: l.line})
	}
	master, err := pfReadFile(filepath.Join(dir, "master.cf"))
	switch {
	case err == nil:
		p.services = parseMaster(master)
	case os.IsNotExist(err):
		p.services = nil // the caller assumes Postfix's smtp service
	default:
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "master.cf"), pathErr(err))
	}
	return p, nil
}

// pathErr drops the path os repeats in its errors; the caller names it.
func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// pfLine is a logical line of a Postfix file, continuations joined.
type pfLine struct {
	text string
	line int
}

// pfLogicalLines splits a main.cf, master.cf or map source file as
// Postfix reads them (postconf(5), postmap(1)): a line that starts with
// white space continues the one before, a line whose first non-space
// character is # is a comment, and blank lines are skipped.
func pfLogicalLines(data []byte) []pfLine {
	var out []pfLine
	// Split by hand, not with a bufio.Scanner, whose line limit would
	// silently end the file at a long line; pfReadFile bounds the size.
	for n, raw := range strings.Split(string(data), "\n") {
		l := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(out) > 0 {
			out[len(out)-1].text += " " + trimmed
			continue
		}
		out = append(out, pfLine{text: trimmed, line: n + 1})
	}
	return out
}

// pfMaxFile bounds each file the import reads: far above any main.cf or
// table source a site writes, far below what would exhaust memory.
var pfMaxFile int64 = 64 << 20

// pfReadFile reads a file main.cf names, or main.cf or master.cf: a
// regular file (a FIFO or device there would block or never end) of at
// most pfMaxFile bytes.
func pfReadFile(path string) ([]byte, error) {
	// Stat before Open: opening a FIFO blocks until a writer comes.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &os.PathError{Op: "read", Path: path, Err: errors.New("not a regular file")}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, pfMaxFile+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > pfMaxFile {
		return nil, &os.PathError{Op: "read", Path: path, Err: fmt.Errorf("larger than %d MiB", pfMaxFile>>20)}
	}
	return data, nil
}

// set reports whether main.cf sets name.
func (p *pfConf) set(name string) bool {
	_, ok := p.byName[name]
	return ok
}

// take returns name's value with $parameters expanded, and marks it
// carried over.
func (p *pfConf) take(name string) string {
	p.used[name] = true
	return p.value(name)
}

// value is name's value, expanded: main.cf's, else Postfix's default.
func (p *pfConf) value(name string) string {
	x := &pfExpansion{p: p, top: name, active: map[string]bool{}}
	return x.param(name)
}

// expand expands s's $parameters, as value does a parameter's.
func (p *pfConf) expand(s string) string {
	x := &pfExpansion{p: p, active: map[string]bool{}}
	return x.expand(s)
}

// raw is name's value as written, or Postfix's default.
func (p *pfConf) raw(name string) string {
	return p.rawIn(&pfExpansion{p: p, top: name, active: map[string]bool{}}, name)
}

// rawIn is raw within expansion x, whose loop check covers the
// defaults derived from other parameters (mydomain from myhostname).
func (p *pfConf) rawIn(x *pfExpansion, name string) string {
	if i, ok := p.byName[name]; ok {
		return p.params[i].value
	}
	switch name {
	case "myhostname":
		// postconf(5): gethostname()'s name, or that name with
		// ".$mydomain" appended when it is not fully qualified.
		if strings.Contains(p.hostname, ".") {
			return p.hostname
		}
		return p.hostname + ".$mydomain"
	case "mydomain":
		// postconf(5): $myhostname minus its first component, or
		// "localdomain" (so a short gethostname() is NAME.localdomain).
		if !p.set("myhostname") && !strings.Contains(p.hostname, ".") {
			return "localdomain"
		}
		if _, d, ok := strings.Cut(x.param("myhostname"), "."); ok && d != "" {
			return d
		}
		return "localdomain"
	}
	return pfDefaults[name]
}

// pfExpansionLimit bounds the text one expansion may produce, and so
// its time: "a = $b $b", "b = $c $c", ... doubles at each step.
const pfExpansionLimit = 1 << 20

// pfExpansion is one parameter's expansion: the parameters being
// expanded, to refuse a loop ("a = $b", "b = $a") as Postfix does
// rather than recurse for ever, and the work done so far.
type pfExpansion struct {
	p      *pfConf
	top    string
	active map[string]bool
	work   int
}

// fail records the first expansion error; importPostfix reports it.
func (x *pfExpansion) fail(format string, args ...any) {
	if x.p.err == nil {
		x.p.err = fmt.Errorf("main.cf: "+format, args...)
	}
}

// param is name's value, expanded.
func (x *pfExpansion) param(name string) string {
	if x.active[name] {
		x.fail("$%s: parameter expansion loops: its value names it again", name)
		return ""
	}
	x.active[name] = true
	defer delete(x.active, name)
	return x.expand(x.p.rawIn(x, name))
}

// expand replaces $name, ${name} and $(name) with their values, and
// ${name?text} / ${name:text} with text when name is (is not) set to a
// non-empty value, as Postfix does (postconf(5), "parameter expansion";
// mac_parse(3) matches nested brackets, and Postfix 3.0's
// ${name?{text}} form keeps the text in braces, spaces around it
// dropped).
func (x *pfExpansion) expand(s string) string {
	x.work += len(s) + 1
	if x.work > pfExpansionLimit {
		x.fail("$%s: parameter expansion larger than %d bytes", x.top, pfExpansionLimit)
		return ""
	}
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		if rest[0] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		var name, cond, text string
		if rest[0] == '{' || rest[0] == '(' {
			end := pfMatchBracket(rest)
			if end < 0 {
				b.WriteString(s[i:])
				break
			}
			inner := rest[1:end]
			name = inner
			if k := strings.IndexAny(inner, "?:"); k >= 0 {
				name, cond, text = inner[:k], inner[k:k+1], strings.TrimSpace(inner[k+1:])
				if len(text) >= 2 && text[0] == '{' && pfMatchBracket(text) == len(text)-1 {
					text = strings.TrimSpace(text[1 : len(text)-1])
				}
			}
			i += end + 1
		} else {
			end := 0
			for end < len(rest) && (rest[end] == '_' || rest[end] >= 'a' && rest[end] <= 'z' || rest[end] >= 'A' && rest[end] <= 'Z' || rest[end] >= '0' && rest[end] <= '9') {
				end++
			}
			if end == 0 {
				b.WriteByte('$')
				continue
			}
			name = rest[:end]
			i += end
		}
		p := x.p
		if p.set(name) && !p.used[name] {
			p.used[name] = true
			p.expanded = append(p.expanded, name)
		}
		v := x.param(name)
		switch cond {
		case "?":
			if v != "" {
				b.WriteString(x.expand(text))
			}
		case ":":
			if v == "" {
				b.WriteString(x.expand(text))
			}
		default:
			b.WriteString(v)
		}
		if x.p.err != nil {
			return ""
		}
	}
	x.work += b.Len()
	return b.String()
}

// pfMatchBracket is the index in s of the bracket closing s[0] ('{' or
// '('), counting nested ones of its kind as mac_parse(3) does, or -1.
func pfMatchBracket(s string) int {
	open := s[0]
	close := map[byte]byte{'{': '}', '(': ')'}[open]
	level := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case open:
			level++
		case close:
			level--
			if level == 0 {
				return i
			}
		}
	}
	return -1
}

// pfList splits a Postfix list value: white space and commas separate.
func pfList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\n' })
}

// pfYes reads a Postfix boolean.
func pfYes(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "yes") }

// pfService is one master.cf service.
type pfService struct {
	name, typ, chroot, command string
	args                       []string
	opts                       map[string]string // -o name=value
	optOrder                   []string
	used                       map[string]bool // options the import carried over
	line                       int
}

// parseMaster reads master.cf's services (master(5)): service type
// private unpriv chroot wakeup maxproc command args, -o overrides among
// the args, in the short form (-o name=value), joined to its option as
// the daemons' getopt(3) takes it too (-oname=value), or Postfix 3.0's
// long one (-o { name = value }: white space after "{", around "=" and
// before "}" ignored, white space within the value kept). As that getopt
// (Postfix's GETOPT, "+" first: no permuting), the options end at the
// first argument that is none: a pipe(8) service's "user=… argv=sendmail
// -oi …" has no -o.
func parseMaster(data []byte) []pfService {
	var out []pfService
	for _, l := range pfLogicalLines(data) {
		f := pfMasterFields(l.text)
		if len(f) < 8 {
			continue
		}
		s := pfService{name: f[0], typ: f[1], chroot: f[4], command: f[7], opts: map[string]string{}, used: map[string]bool{}, line: l.line}
		args := f[8:]
		opts := true // until the first argument that is no option
		for i := 0; i < len(args); i++ {
			if opts {
				if opt, n := pfMasterOption(args[i:]); n > 0 {
					arg, long := pfUnbrace(opt)
					k, v, _ := strings.Cut(arg, "=")
					if long {
						k, v = strings.TrimSpace(k), strings.TrimSpace(v)
					}
					if _, ok := s.opts[k]; !ok {
						s.optOrder = append(s.optOrder, k)
					}
					s.opts[k] = v // the last -o of a name wins, as in Postfix
					i += n - 1
					continue
				}
			}
			arg, _ := pfUnbrace(args[i]) // "{ -v }" is -v, as master(8) passes it
			if len(arg) < 2 || arg[0] != '-' || arg == "--" {
				opts = false // the command's own arguments from here
			}
			s.args = append(s.args, arg)
		}
		out = append(out, s)
	}
	return out
}

// pfMasterOption is the value of the -o that begins args and the number
// of arguments it takes (0: args begins with none): "-o" and the next
// argument, or one argument "-oname=value", as a Postfix daemon's
// getopt(3) reads an option's value joined to it. Braces are master(5)'s
// only on a field of their own, so a joined "-o{ name = value }" is no
// option: Postfix's daemon refuses it at start ("invalid -o option
// value"), and it stays among the args.
func pfMasterOption(args []string) (opt string, n int) {
	switch a := args[0]; {
	case a == "-o" && len(args) > 1:
		return args[1], 2
	case len(a) > 2 && strings.HasPrefix(a, "-o") && a[2] != '{':
		return a[2:], 1
	}
	return "", 0
}

// pfMasterFields splits a master.cf line at white space outside braces,
// as Postfix's mystrtokq(3) does: "{ name = value }" is one field.
func pfMasterFields(s string) []string { return pfSplitBraced(s, " \t") }

// pfSplitBraced splits s at the bytes of seps outside braces, as
// Postfix's mystrtokq(3) and argv_splitq(3) (braces kept) do: "{ … }",
// nested ones too, is one field; an unmatched "}" is an ordinary byte.
func pfSplitBraced(s, seps string) []string {
	var out []string
	start, level := -1, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case level == 0 && strings.IndexByte(seps, c) >= 0:
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
			continue
		case c == '{':
			level++
		case c == '}' && level > 0:
			level--
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// pfUnbrace strips a field's outer "{" and "}" and the white space
// inside them (master(5), extpar(3)); long reports that it had them.
func pfUnbrace(f string) (arg string, long bool) {
	if len(f) >= 2 && f[0] == '{' && pfMatchBracket(f) == len(f)-1 {
		return strings.TrimSpace(f[1 : len(f)-1]), true
	}
	return f, false
}

// chrooted reports whether the service runs chrooted: "-" is Postfix
// 3's default, n (Debian's master.cf writes y explicitly).
func (s pfService) chrooted() bool { return s.chroot == "y" }

// service returns master.cf's service of that name and type.
func (p *pfConf) service(name, typ string) (pfService, bool) {
	for _, s := range p.services {
		if s.name == name && s.typ == typ {
			return s, true
		}
	}
	return pfService{}, false
}

// queuePath is a socket path as a Postfix daemon means it: relative to
// queue_directory (its working directory), and an absolute one too when
// the daemon runs chrooted there (MILTER_README, SASL_README).
func (p *pfConf) queuePath(path string, chrooted bool) string {
	q := p.value("queue_directory")
	if !filepath.IsAbs(path) || chrooted {
		return filepath.Join(q, path)
	}
	return path
}

// localPath is where to read a file main.cf names: one under
// config_directory is read from the directory given to -d instead, so
// that a copy of /etc/postfix imports as the original would.
func (p *pfConf) localPath(path string) string {
	cd := filepath.Clean(p.value("config_directory"))
	if rel, err := filepath.Rel(cd, filepath.Clean(path)); err == nil && filepath.IsAbs(path) && rel != ".." && !strings.HasPrefix(rel, "../") {
		return filepath.Join(p.dir, rel)
	}
	return path
}

// pfEntry is one line of a lookup table's source file.
type pfEntry struct {
	key, value string
	file       string // as main.cf names it
	line       int
}

// pfTableTypes are the table types whose source is a postmap text file.
var pfTableTypes = map[string]bool{"hash": true, "btree": true, "lmdb": true, "cdb": true, "dbm": true, "sdbm": true, "texthash": true}

// readTable reads a "type:name" table's source file (postmap(1):
// "key whitespace value", # comments, continuation lines): hash:/etc/postfix/virtual
// reads /etc/postfix/virtual, not the .db. supported is false for
// another table type (regexp, pcre, mysql, …), which the caller lists.
func (p *pfConf) readTable(spec string) (entries []pfEntry, supported bool, err error) {
	spec = strings.TrimPrefix(spec, "proxy:")
	typ, name, ok := strings.Cut(spec, ":")
	if !ok || !pfTableTypes[typ] {
		return nil, false, nil
	}
	data, err := pfReadFile(p.localPath(name))
	if err != nil {
		return nil, true, fmt.Errorf("%s: %s: %w", spec, p.localPath(name), pathErr(err))
	}
	for _, l := range pfLogicalLines(data) {
		k, v, _ := strings.Cut(strings.ReplaceAll(l.text, "\t", " "), " ")
		entries = append(entries, pfEntry{key: k, value: strings.TrimSpace(v), file: name, line: l.line})
	}
	return entries, true, nil
}
