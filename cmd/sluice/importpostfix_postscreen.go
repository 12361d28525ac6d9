package main

import "fmt"

// pfSmtpdService is smtpd_service_name's default: the master.cf pass
// service postscreen(8) hands the clients it lets through to.
const pfSmtpdService = "smtpd"

// postscreenSmtpd is the pass service postscreen service s hands the
// clients it lets through to (its -o smtpd_service_name, else main.cf's,
// else "smtpd"), whose smtpd serves their sessions on s's port: ok is
// false when master.cf has no such smtpd service.
func (im *importer) postscreenSmtpd(s pfService) (pass pfService, ok bool) {
	name, _ := im.smtpdOption(s, "smtpd_service_name")
	if name == "" {
		name = pfSmtpdService
	}
	pass, ok = im.p.service(name, "pass")
	return pass, ok && pass.command == "smtpd"
}

// postscreenOptions is the service whose -o options are the listener's
// for postscreen service s, and where to name them: pass's over s's own
// when pass has any, as Postfix's smtpd takes pass's (postscreen's own
// are read as before, under pass's name), and merged true; else s
// itself. pass's options are then its listener's, not a transport's
// (transportOptions).
func (im *importer) postscreenOptions(s, pass pfService, where string) (o pfService, owhere string, merged bool) {
	if len(pass.opts) == 0 {
		return s, where, false
	}
	if im.passServices == nil {
		im.passServices = map[int]bool{}
	}
	im.passServices[pass.line] = true
	o = pfService{name: pass.name, typ: pass.typ, chroot: pass.chroot, command: pass.command, args: pass.args,
		opts: map[string]string{}, used: map[string]bool{}, line: pass.line}
	for _, from := range []pfService{s, pass} {
		for _, k := range from.optOrder {
			if _, ok := o.opts[k]; !ok {
				o.optOrder = append(o.optOrder, k)
			}
			o.opts[k] = from.opts[k]
		}
	}
	return o, fmt.Sprintf("master.cf:%d %s", pass.line, pass.name), true
}

// postscreenUnused lists the -o options of postscreen service s and of
// pass, the listener's (o), that no part of the listener took: each
// under its own master.cf line.
func (im *importer) postscreenUnused(s, pass, o pfService, where string) {
	for _, k := range s.optOrder {
		switch _, over := pass.opts[k]; {
		case over:
			im.noteAt(fmt.Sprintf("%s -o %s=%s", where, k, s.opts[k]), fmt.Sprintf("master.cf:%d %s's -o %s, which its smtpd takes, is the listener's", pass.line, pass.name, k))
		case !o.used[k] && !s.used[k]:
			im.noteAt(fmt.Sprintf("%s -o %s=%s", where, k, s.opts[k]), pfServiceOptionNone)
		}
	}
	for _, k := range pass.optOrder {
		if !o.used[k] {
			im.noteAt(fmt.Sprintf("master.cf:%d %s -o %s=%s", pass.line, pass.name, k, pass.opts[k]), pfServiceOptionNone)
		}
	}
}
