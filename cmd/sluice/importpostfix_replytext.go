package main

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/rejectfooter"
)

// pfFooterMacros are the smtpd_reject_footer attributes Postfix
// documents (postconf(5)) and Sluice's names for them.
var pfFooterMacros = map[string]string{
	"client_address": "client_address",
	"client_port":    "client_port",
	"localtime":      "localtime",
	"server_name":    "hostname",
}

// pfFooterLongestListener stands for the longest listener name the
// import writes, for the footer's line length check.
const pfFooterLongestListener = "submissions-9"

// rejectFooter writes main.cf's smtpd_reject_footer as the top-level
// reject_footer, which every listener takes but one with its own.
func (im *importer) rejectFooter() {
	const param = "smtpd_reject_footer"
	if !im.p.set(param) {
		return
	}
	// A raw parameter: Postfix does not expand $name in it (postconf(5)),
	// the footer's own attributes are expanded at each reply.
	v, err := pfFooter(im.p.raw(param), im.p.value("myhostname"))
	if err != nil {
		im.note(param, err.Error())
		return
	}
	im.p.used[param] = true
	kv(&im.top, param, "reject_footer", tomlStr(v))
}

// serviceFooter is a service's own -o smtpd_reject_footer, converted,
// and where it came from; own is false without one (the listener takes
// the top-level reject_footer). One Sluice cannot take is listed and
// written as "" (Postfix's own turned it off, or replaced main.cf's).
func (im *importer) serviceFooter(s pfService, where string) (value, from string, own bool) {
	const param = "smtpd_reject_footer"
	raw, own := s.opts[param]
	if !own {
		return "", "", false
	}
	s.used[param] = true
	from = fmt.Sprintf("%s (master.cf %s -o)", param, s.name)
	v, err := pfFooter(raw, im.p.value("myhostname"))
	if err != nil {
		im.noteAt(fmt.Sprintf("%s -o %s=%s", where, param, raw), err.Error()+"; the listener has none")
		return "", from + ", not carried: see the end", true
	}
	return v, from, true
}

// pfFooter converts a Postfix reply footer template to a reject_footer:
// its attributes to Sluice's macro names ($server_name is $hostname),
// "\n" and a leading "\c" as they are. Postfix's other smtpd attributes
// ($client_name, $helo_name, $sender, ...; the ones postconf(5) leaves
// out) and unknown names, which it expands to nothing, are refused.
func pfFooter(raw, hostname string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '$' || i+1 == len(raw) {
			b.WriteByte(raw[i])
			continue
		}
		rest := raw[i+1:]
		if rest[0] == '$' {
			b.WriteString("$$")
			i++
			continue
		}
		name, n, braced := "", 0, false
		if rest[0] == '{' || rest[0] == '(' {
			end := pfMatchBracket(rest)
			if end < 0 {
				return "", fmt.Errorf("$%s: no closing bracket", rest)
			}
			name, n, braced = rest[1:end], end+1, true
		} else {
			for n < len(rest) && (rest[n] == '_' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z' || rest[n] >= '0' && rest[n] <= '9') {
				n++
			}
			name = rest[:n]
		}
		if name == "" {
			b.WriteString("$$") // Postfix writes a lone $ as it is
			continue
		}
		sluice, ok := pfFooterMacros[name]
		if !ok {
			return "", fmt.Errorf("$%s: Sluice's reject_footer has %s only", name, strings.Replace(rejectfooter.Known, "$hostname", "$hostname (Postfix's $server_name)", 1))
		}
		if braced {
			b.WriteString("${" + sluice + "}")
		} else {
			b.WriteString("$" + sluice) // the name ended where Postfix's did
		}
		i += n
	}
	v := b.String()
	if err := config.CheckRejectFooter(v, hostname, pfFooterLongestListener); err != nil {
		return "", err
	}
	return v, nil
}

// serviceBanner is a service's listeners' banner and where it came from:
// its -o smtpd_banner, else main.cf's; "" and no from when neither sets
// one (Sluice's default, "ESMTP", where Postfix's adds $mail_name).
// Carried when it begins with the host name, which Sluice always writes
// first: the rest is the banner. Otherwise it is listed as not carried.
func (im *importer) serviceBanner(s pfService, where string) (value, from string, ok bool) {
	const param = "smtpd_banner"
	raw, own := s.opts[param]
	if !own && !im.p.set(param) {
		return "", "", false
	}
	first := !im.p.used[param] // main.cf's is noted once, not once per service
	value, from = im.smtpdOption(s, param)
	host := im.p.value("myhostname")
	rest, found := strings.CutPrefix(value, host)
	var why string
	switch {
	case !found || rest != "" && rest[0] != ' ' && rest[0] != '\t':
		why = fmt.Sprintf("does not begin with $myhostname (%s): Sluice's greeting always does (RFC 5321 §4.3.1), its banner is the text after it", host)
	default:
		rest = strings.TrimLeft(rest, " \t")
		if err := config.CheckBanner(rest, host); err != nil {
			why = "not a banner: " + err.Error()
		}
	}
	if why == "" {
		return rest, from, true
	}
	switch {
	case own:
		im.noteAt(fmt.Sprintf("%s -o %s=%s", where, param, raw), why)
	case first:
		im.note(param, why)
	}
	return "", "", false
}
