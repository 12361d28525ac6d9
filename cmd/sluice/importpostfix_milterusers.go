package main

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
)

// pfMilterUser is an imported smtpd service: its listeners, and whether
// it runs its own -o smtpd_milters instead of main.cf's, as Postfix
// applies a service's -o over main.cf (master(5)).
type pfMilterUser struct {
	service, where string
	listeners      []string
	own            bool   // its own -o smtpd_milters, an empty one too
	list           string // that -o, expanded
	smtp           bool   // kind smtp: sluice sendmail may submit here
	tlsRequired    bool
}

// milterUser records service s's listeners for the milter stages; its
// -o smtpd_milters is carried over as their listeners keys.
func (im *importer) milterUser(s pfService, where string, listeners []string, kind config.ListenerKind, tlsRequired bool) {
	u := pfMilterUser{service: s.name, where: where, listeners: listeners, smtp: kind == config.KindSMTP, tlsRequired: tlsRequired}
	if v, ok := s.opts["smtpd_milters"]; ok {
		s.used["smtpd_milters"] = true
		u.own, u.list = true, im.p.expand(v)
	}
	im.milterUsers = append(im.milterUsers, u)
}

// runsMilters reports whether service s's sessions meet milters under
// Postfix: its own -o smtpd_milters, else main.cf's; non_smtpd_milters'
// mail (sluice sendmail's) arrives on a listener too.
func (im *importer) runsMilters(s pfService) bool {
	if im.p.set("non_smtpd_milters") {
		return true
	}
	if v, ok := s.opts["smtpd_milters"]; ok {
		return len(pfMilterList(im.p.expand(v))) > 0
	}
	return im.p.set("smtpd_milters")
}

// submitListener is the listener sluice sendmail submits to, as
// submitAddr picks it: the first of kind smtp, one without tls_required
// before one with; "" when none was imported.
func (im *importer) submitListener() string {
	var pick *pfMilterUser
	for i := range im.milterUsers {
		u := &im.milterUsers[i]
		if u.smtp && len(u.listeners) > 0 && (pick == nil || pick.tlsRequired && !u.tlsRequired) {
			pick = u
		}
	}
	if pick == nil {
		return ""
	}
	return pick.listeners[0]
}

// pfMilterSource is one milter list and the listeners whose sessions
// Postfix would run it for.
type pfMilterSource struct {
	param     string // as the stages' comments name it
	where     string // as the list of what was not carried names it
	main      bool   // a main.cf parameter
	list      string
	every     bool     // every listener: none was imported
	listeners []string // else these
	who       string   // whose listeners, for the listeners key's comment
}

// milterSources are the milter lists in the order the stages take
// them: main.cf's smtpd_milters, for the services without their own;
// each service's own -o smtpd_milters, in master.cf order; then
// non_smtpd_milters, for the listener sluice sendmail submits to (it
// goes through SMTP, where Postfix's sendmail goes through pickup).
func (im *importer) milterSources() []*pfMilterSource {
	p := im.p
	none := len(im.milterUsers) == 0
	var out []*pfMilterSource
	if p.set("smtpd_milters") {
		var services []string
		src := &pfMilterSource{param: "smtpd_milters", where: "smtpd_milters", main: true, every: none}
		for _, u := range im.milterUsers {
			if !u.own {
				services = append(services, u.service)
				src.listeners = append(src.listeners, u.listeners...)
			}
		}
		src.who = fmt.Sprintf("master.cf %s (main.cf's smtpd_milters)", strings.Join(services, ", "))
		if none || len(src.listeners) > 0 {
			src.list = p.take("smtpd_milters")
			out = append(out, src)
		} else {
			im.note("smtpd_milters", "every service imported has its own master.cf -o smtpd_milters: main.cf's runs on none of their listeners")
		}
	}
	for _, u := range im.milterUsers {
		if u.own && len(u.listeners) > 0 {
			out = append(out, &pfMilterSource{param: fmt.Sprintf("master.cf %s -o smtpd_milters", u.service), where: u.where + " -o smtpd_milters",
				list: u.list, listeners: u.listeners, who: fmt.Sprintf("master.cf %s (its -o smtpd_milters)", u.service)})
		}
	}
	if p.set("non_smtpd_milters") {
		src := &pfMilterSource{param: "non_smtpd_milters", where: "non_smtpd_milters", main: true, every: none}
		l := im.submitListener()
		switch {
		case l != "":
			src.listeners = []string{l}
			src.who = l + " (non_smtpd_milters: the listener sluice sendmail submits to)"
		case !none:
			im.note("non_smtpd_milters", "for the mail sluice sendmail submits, to the first smtp listener: none was imported")
			return out
		}
		src.list = p.take("non_smtpd_milters")
		out = append(out, src)
	}
	return out
}
