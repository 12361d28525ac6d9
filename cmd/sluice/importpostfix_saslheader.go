package main

import "fmt"

// receivedAuthUser reports whether a service's listeners get
// received_auth_user = true, and where that came from: the service's
// master.cf -o smtpd_sasl_authenticated_header, else main.cf's. Postfix
// reads the parameter as yes or no (default no); a value that is neither
// is listed as not carried, once for main.cf's.
func (im *importer) receivedAuthUser(s pfService, where string) (on bool, from string) {
	const param = "smtpd_sasl_authenticated_header"
	raw, own := s.opts[param]
	if !own && !im.p.set(param) {
		return false, ""
	}
	value, from := im.p.value(param), param
	if own {
		value, from = im.smtpdOption(s, param)
	}
	on, ok := pfBool(value)
	if !ok {
		why := "not yes or no"
		switch {
		case own:
			im.noteAt(fmt.Sprintf("%s -o %s=%s", where, param, raw), why)
		case !im.p.used[param]: // once, not once per service
			im.note(param, why)
		}
		return false, ""
	}
	if !own {
		im.p.take(param)
	}
	return on, from + " = " + value
}
