package main

import (
	"fmt"
	"strings"
)

// pfSmtpdService is smtpd_service_name's default: the master.cf pass
// service postscreen(8) hands the clients it lets through to.
const pfSmtpdService = "smtpd"

// postscreenSmtpd is the pass service postscreen service s hands the
// clients it lets through to (its -o smtpd_service_name, else main.cf's,
// else "smtpd"), whose smtpd serves their sessions on s's port: ok is
// false when master.cf has no such smtpd service, and name is the one
// postscreen asks for.
func (im *importer) postscreenSmtpd(s pfService) (pass pfService, name string, ok bool) {
	name, _ = im.smtpdOption(s, "smtpd_service_name")
	if name == "" {
		name = pfSmtpdService
	}
	pass, ok = im.p.service(name, "pass")
	return pass, name, ok && pass.command == "smtpd"
}

// postscreenOptions is the service whose -o options are the listener's
// for postscreen service s, and where to name them: pass, whose smtpd
// serves the sessions, with its own -o alone. master(8) gives each
// process its own line's -o, so s's own (smtpd_* ones included) reach
// postscreen only (postscreenUnused lists them). pass's options are then
// its listener's, not a transport's (transportOptions); a pass service
// two postscreen services share is the listeners' of both.
func (im *importer) postscreenOptions(pass pfService) (o pfService, owhere string) {
	if im.passServices == nil {
		im.passServices = map[int]bool{}
	}
	if _, ok := im.passServices[pass.line]; !ok {
		im.passServices[pass.line] = false
	}
	// A fresh record of what the listener took: each listener reads all.
	o = pass
	o.used = map[string]bool{}
	return o, fmt.Sprintf("master.cf:%d %s", pass.line, pass.name)
}

// takenByListener reports whether master.cf's line is an smtpd pass
// service whose -o options a postscreen listener took.
func (im *importer) takenByListener(line int) bool {
	_, ok := im.passServices[line]
	return ok
}

// postscreenUnused lists the -o options of postscreen service s, which
// its smtpd does not read, and those of its pass service (the
// listener's, o) that no part of the listener took, each under its own
// master.cf line; a pass service's once, however many postscreen
// services hand clients to it.
func (im *importer) postscreenUnused(s, pass, o pfService, where string) {
	for _, k := range s.optOrder {
		why, ok := pfReasons[k]
		switch {
		case s.used[k]: // smtpd_service_name
			continue
		case strings.HasPrefix(k, "smtpd_"):
			why = fmt.Sprintf("postscreen's own: the smtpd that serves the clients it lets through (master.cf:%d %s) does not read it, and has main.cf's value or its own -o, which the listener took", pass.line, pass.name)
		case !ok:
			why = pfServiceOptionNone
		}
		im.noteAt(fmt.Sprintf("%s -o %s=%s", where, k, s.opts[k]), why)
	}
	if im.passServices[pass.line] {
		return
	}
	im.passServices[pass.line] = true
	for _, k := range pass.optOrder {
		if !o.used[k] {
			im.noteAt(fmt.Sprintf("master.cf:%d %s -o %s=%s", pass.line, pass.name, k, pass.opts[k]), pfServiceOptionNone)
		}
	}
}
