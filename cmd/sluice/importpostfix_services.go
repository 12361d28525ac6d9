package main

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
)

// pfPorts are the services(5) names master.cf's SMTP services go by.
var pfPorts = map[string]int{"smtp": 25, "submission": 587, "smtps": 465, "submissions": 465}

// smtpdOption is a service's -o override, else main.cf's value; from
// names where it came from.
func (im *importer) smtpdOption(s pfService, name string) (value, from string) {
	if v, ok := s.opts[name]; ok {
		s.used[name] = true
		return im.p.expand(v), fmt.Sprintf("%s (master.cf %s -o)", name, s.name)
	}
	return im.p.take(name), name
}

// listenHosts are the addresses a service without its own host listens
// on: inet_interfaces, for inet_protocols' families.
func (im *importer) listenHosts() (hosts []string, from string) {
	ifs := strings.ToLower(im.p.value("inet_interfaces"))
	protos := strings.ToLower(im.p.value("inet_protocols"))
	from = fmt.Sprintf("inet_interfaces = %s, inet_protocols = %s", ifs, protos)
	if im.p.set("inet_interfaces") || im.p.set("inet_protocols") {
		im.p.take("inet_interfaces")
		im.p.take("inet_protocols")
	} else {
		from += " (Postfix's defaults)"
	}
	v6 := protos == "all" || strings.Contains(protos, "ipv6")
	v4 := protos == "all" || strings.Contains(protos, "ipv4")
	switch ifs {
	case "all":
		if v6 {
			return []string{"::"}, from // both families, as [::]:25 listens
		}
		return []string{"0.0.0.0"}, from
	case "loopback-only":
		if v4 {
			hosts = append(hosts, "127.0.0.1")
		}
		if v6 {
			hosts = append(hosts, "::1")
		}
		return hosts, from
	}
	return pfList(ifs), from
}

// pfServiceOptionNone is why a listener's service's -o is not carried.
const pfServiceOptionNone = "per-service settings: Sluice's listeners share the main settings and one pipeline"

// pfNoMaster names the smtp service assumed when there is no master.cf.
const pfNoMaster = "master.cf: none, one smtp service on port 25 assumed"

// listeners writes one [[listener]] per address of master.cf's smtp,
// submission and smtps services (smtpd, or postscreen for smtp).
func (im *importer) listeners() {
	services := im.p.services
	if services == nil {
		// line 0: no master.cf, Postfix's stock smtp service assumed.
		services = []pfService{{name: "smtp", typ: "inet", command: "smtpd", opts: map[string]string{}, used: map[string]bool{}}}
	}
	names := map[string]bool{}
	for _, s := range services {
		if s.typ != "inet" || (s.command != "smtpd" && s.command != "postscreen") {
			continue
		}
		where, service := fmt.Sprintf("master.cf:%d %s", s.line, s.name), fmt.Sprintf("master.cf:%d service %s (%s)", s.line, s.name, s.command)
		if s.line == 0 {
			where, service = pfNoMaster, pfNoMaster
		}
		host, portName := "", s.name
		if i := strings.LastIndexByte(s.name, ':'); i >= 0 {
			host, portName = strings.Trim(s.name[:i], "[]"), s.name[i+1:]
		}
		port, ok := pfPorts[portName]
		if n, err := strconv.Atoi(portName); err == nil {
			port, ok = n, n == 25 || n == 587 || n == 465
		}
		if !ok {
			im.noteAt(where, "only the smtp, submission and smtps services are imported (a content filter's reinjection port has no counterpart: filters are stages)")
			continue
		}
		// ps and its where are the service whose -o options are the
		// listener's: s, or for postscreen the smtpd it hands clients to.
		ps, pwhere := s, where
		var pass pfService
		viaPass := false
		if s.command == "postscreen" {
			why := "its pregreet test is a listener's greet_pause, by hand; DNSBLs are filter rules; its deep protocol tests have no counterpart"
			var passName string
			if pass, passName, viaPass = im.postscreenSmtpd(s); viaPass {
				ps, pwhere = im.postscreenOptions(pass)
				service += fmt.Sprintf(", its clients served by master.cf:%d %s pass (smtpd)", pass.line, pass.name)
			} else {
				why += fmt.Sprintf("; master.cf has no %q pass service running smtpd (smtpd_service_name) for it to hand the clients it lets through to: the listener takes this line's -o options", passName)
			}
			im.noteAt(where+" postscreen", why)
		}
		kind, kindFrom := config.KindSMTP, "master.cf service "+s.name
		wrapper, _ := im.smtpdOption(ps, "smtpd_tls_wrappermode")
		switch {
		case pfYes(wrapper):
			kind, kindFrom = config.KindSubmissions, kindFrom+" -o smtpd_tls_wrappermode=yes"
		case port == 587:
			kind = config.KindSubmission
		}
		if kind != config.KindSMTP {
			if _, ok := ps.opts["smtpd_sasl_auth_enable"]; ok {
				ps.used["smtpd_sasl_auth_enable"] = true // AUTH: what a submission listener is
			}
		}
		cert, certFrom := im.smtpdOption(ps, "smtpd_tls_cert_file")
		key, keyFrom := im.smtpdOption(ps, "smtpd_tls_key_file")
		level, levelFrom := im.smtpdOption(ps, "smtpd_tls_security_level")
		if level == "" && pfYes(im.p.take("smtpd_use_tls")) {
			level, levelFrom = "may", "smtpd_use_tls"
		}
		if pfYes(im.p.take("smtpd_enforce_tls")) {
			level, levelFrom = "encrypt", "smtpd_enforce_tls"
		}
		if kind == config.KindSMTP && level != "may" && level != "encrypt" && cert != "" {
			// Postfix offers no STARTTLS at level none; Sluice does
			// whenever a listener has a certificate.
			im.noteAt(pwhere+" "+certFrom, "smtpd_tls_security_level is none: Postfix offers no STARTTLS here, so the listener has no tls_cert")
			cert, key = "", ""
		}
		if kind != config.KindSMTP && (cert == "" || key == "") {
			im.noteAt(where, "a "+string(kind)+" listener needs smtpd_tls_cert_file and smtpd_tls_key_file, which are not set: not imported")
			continue
		}
		daemonName, daemonNameFrom := im.milterDaemonName(ps, pwhere)
		xclient, xclientFrom := im.xclientHosts(ps, pwhere)
		banner, bannerFrom, hasBanner := im.serviceBanner(ps, pwhere)
		footer, footerFrom, hasFooter := im.serviceFooter(ps, pwhere)
		authUser, authUserFrom := im.receivedAuthUser(ps, pwhere)
		pipelining, pipeliningFrom, ownPipelining := im.servicePipelining(ps, pwhere)
		bareNL, bareNLFrom, ownBareNL := im.serviceBareNewline(ps, pwhere)
		bareNLRule := im.serviceBareNewlineRule(ps, pwhere)
		var authComment string
		if kind != config.KindSMTP {
			authComment = im.submissionAuthComment(ps, port, kind == config.KindSubmissions)
		}
		var authOff bool
		var authOffFrom string
		if kind == config.KindSMTP {
			authOff, authOffFrom = im.smtpAuthOff(ps)
		}
		hosts, hostFrom := []string{host}, "master.cf service "+s.name
		if host == "" {
			hosts, hostFrom = im.listenHosts()
		}
		var written []string
		for _, h := range hosts {
			name := string(kind)
			if kind == config.KindSMTP {
				name = "mx"
			}
			for n := 2; names[name]; n++ {
				name = fmt.Sprintf("%s-%d", strings.TrimSuffix(name, fmt.Sprintf("-%d", n-1)), n)
			}
			names[name] = true
			written = append(written, name)
			b := &im.body
			fmt.Fprintf(b, "\n[[listener]]\n")
			kv(b, service, "name", tomlStr(name))
			kv(b, hostFrom, "listen", tomlStr(net.JoinHostPort(h, strconv.Itoa(port))))
			kv(b, kindFrom, "kind", tomlStr(string(kind)))
			if authComment != "" {
				fmt.Fprintf(b, "# %s\n", tomlComment(authComment))
			}
			if cert != "" && key != "" {
				if level != "" && kind == config.KindSMTP {
					certFrom += ", " + levelFrom + " = " + level
				}
				kv(b, certFrom, "tls_cert", tomlStr(cert))
				kv(b, keyFrom, "tls_key", tomlStr(key))
				if level == "encrypt" && kind != config.KindSubmissions {
					kv(b, levelFrom+" = encrypt", "tls_required", "true")
				}
			}
			if authOff {
				kv(b, authOffFrom, "auth", "false")
			}
			if daemonName != "" {
				kv(b, daemonNameFrom, "milter_daemon_name", tomlStr(daemonName))
			}
			if len(xclient) > 0 {
				kv(b, xclientFrom, "xclient_hosts", tomlStrs(xclient))
			}
			if hasBanner {
				kv(b, bannerFrom+" (after its $myhostname)", "banner", tomlStr(banner))
			}
			if hasFooter {
				kv(b, footerFrom, "reject_footer", tomlStr(footer))
			}
			if authUser {
				kv(b, authUserFrom, "received_auth_user", "true")
			}
			if ownPipelining {
				kv(b, pipeliningFrom, "forbid_unauth_pipelining", fmt.Sprint(pipelining))
			}
			if ownBareNL {
				kv(b, bareNLFrom, "bare_newline", tomlStr(bareNL))
			}
			if bareNLRule.code != "" {
				kv(b, bareNLRule.codeFrom, "bare_newline_reject_code", bareNLRule.code)
			}
			if bareNLRule.excl != "" {
				kv(b, bareNLRule.exclFrom, "bare_newline_exclusions", bareNLRule.excl)
			}
		}
		im.milterUser(ps, pwhere, written, kind, cert != "" && key != "" && level == "encrypt")
		im.restrictionUser(ps, pwhere, written, kind != config.KindSMTP)
		if viaPass {
			im.postscreenUnused(s, pass, ps, where)
		} else {
			for _, o := range s.optOrder {
				if !s.used[o] {
					im.noteAt(fmt.Sprintf("%s -o %s=%s", where, o, s.opts[o]), pfServiceOptionNone)
				}
			}
		}
		im.restrictionNotesHere(written)
	}
}

// pfTime reads a Postfix time value: a number and a unit (s, m, h, d,
// w), unit defaulting to def, as a Sluice duration ("5d", "4h").
func pfTime(v, def string) (string, bool) {
	m := regexp.MustCompile(`^(\d+)([smhdw]?)$`).FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return "", false
	}
	n, _ := strconv.Atoi(m[1])
	unit := m[2]
	if unit == "" {
		unit = def
	}
	if unit == "w" {
		n, unit = n*7, "d"
	}
	return strconv.Itoa(n) + unit, true
}

// tlsRoute maps smtp_tls_security_level to a route's tls= ("" for may).
var tlsRoute = map[string]string{"may": "", "encrypt": "required", "verify": "verify", "secure": "verify", "dane": "dane", "dane-only": "dane-only"}

// delivery returns the [delivery] table; a TLS level for all MX mail
// becomes a route rule "*".
func (im *importer) delivery(route *pfRoute) string {
	p := im.p
	var b strings.Builder
	b.WriteString("\n[delivery]\n")
	level := p.value("smtp_tls_security_level")
	tls, tlsOK := tlsRoute[level]
	if p.set("smtp_tls_security_level") && !tlsOK {
		im.note("smtp_tls_security_level", "none: Sluice always tries STARTTLS (no none, no fingerprint)")
	}
	relay := strings.TrimSpace(p.take("relayhost"))
	if hosts := pfList(relay); len(hosts) > 1 {
		im.note("relayhost", "one relay only: "+hosts[0]+" taken")
		relay = hosts[0]
	}
	switch {
	case relay != "":
		from := "relayhost"
		if !strings.HasPrefix(relay, "[") {
			from += " (Postfix looks up its MX, Sluice dials its own addresses)"
		}
		if tls != "" {
			p.take("smtp_tls_security_level")
			relay = "smtp:" + relay + "?tls=" + tls
			from += ", smtp_tls_security_level = " + level
		}
		kv(&b, from, "relay", tomlStr(relay))
	case tls == "dane" || tls == "dane-only":
		p.take("smtp_tls_security_level")
		kv(&b, "smtp_tls_security_level = "+level+" (point [dns] at a validating resolver)", "dane", "true")
		if tls == "dane-only" {
			im.note("smtp_tls_security_level", "dane-only for all MX mail: none; dane falls back to opportunistic TLS where no TLSA records are found")
		}
	case tls != "":
		p.take("smtp_tls_security_level")
		if route.hasAll {
			// transport_maps' * rule takes every recipient, and
			// carries the level when it is an smtp(8) transport
			// (smtpHop, pfDefaultRoute).
			break
		}
		route.rules = append(route.rules, pfRule{match: "*", transport: "mx?tls=" + tls, from: "smtp_tls_security_level = " + level + ": every other recipient by MX"})
		route.from = appendOnce(route.from, "smtp_tls_security_level")
	case tlsOK && p.set("smtp_tls_security_level"):
		p.take("smtp_tls_security_level")
		b.WriteString("# smtp_tls_security_level = may: opportunistic TLS, as Sluice delivers anyway\n")
	}
	if relay == "" && p.set("relayhost") {
		b.WriteString("# relayhost (empty): delivery by MX, as Sluice delivers anyway\n")
	}
	im.fallbackRelay(&b, relay)
	for _, t := range []struct{ param, key string }{{"maximal_queue_lifetime", "max_age"}, {"bounce_queue_lifetime", "bounce_max_age"}} {
		if !p.set(t.param) {
			continue
		}
		d, ok := pfTime(p.value(t.param), "d")
		if !ok || strings.HasPrefix(d, "0") {
			im.note(t.param, "not a positive time: "+t.key+" takes one (0, try once, has no counterpart)")
			continue
		}
		kv(&b, t.param+" = "+p.take(t.param), t.key, tomlStr(d))
	}
	d, ok := pfTime(p.value("delay_warning_time"), "h")
	switch {
	case !ok:
		im.note("delay_warning_time", "not a time")
	case strings.HasPrefix(d, "0"):
		from := "delay_warning_time = 0h"
		if !p.set("delay_warning_time") {
			from = "delay_warning_time (not set: Postfix sends no delay warnings)"
		}
		p.take("delay_warning_time")
		kv(&b, from, "no_delay_warning", "true")
	default:
		kv(&b, "delay_warning_time = "+p.take("delay_warning_time"), "delay_warning", tomlStr(d))
	}
	im.bounceTemplate(&b)
	im.deliveryTimes(&b)
	im.rateDelay(&b, route)
	im.recipientLimit(&b, route)
	// Postfix 3.10's tls_required_enable = no ignores a message's
	// TLS-Required: No (RFC 8689 §5), as tls_required_header = false
	// does; yes is both defaults.
	if p.set("tls_required_enable") {
		switch on, ok := pfBool(p.value("tls_required_enable")); {
		case !ok:
			im.note("tls_required_enable", "not yes or no")
		case on:
			p.take("tls_required_enable")
		default:
			kv(&b, "tls_required_enable = "+p.take("tls_required_enable"), "tls_required_header", "false")
		}
	}
	for _, s := range []struct {
		param, key string
		v6         bool
	}{{"smtp_bind_address", "source_address", false}, {"smtp_bind_address6", "source_address6", true}} {
		if !p.set(s.param) {
			continue
		}
		a, err := config.ParseSourceAddr(p.value(s.param))
		if err != nil || a.Is6() != s.v6 {
			im.note(s.param, "not an address of its family")
			continue
		}
		kv(&b, s.param, s.key, tomlStr(a.String()))
		p.take(s.param)
	}
	// inet_protocols with one family keeps Postfix's SMTP client to it
	// too: address_family. all (the default) or both is Sluice's any.
	if fams := pfList(strings.ToLower(p.value("inet_protocols"))); len(fams) == 1 && (fams[0] == "ipv4" || fams[0] == "ipv6") {
		kv(&b, "inet_protocols = "+fams[0], "address_family", tomlStr(fams[0]))
	}
	return b.String()
}
