package main

import (
	"fmt"

	"github.com/sluice-mta/sluice/core/config"
)

// milterDaemonName is a service's listeners' milter_daemon_name and where
// it came from: the service's master.cf -o milter_macro_daemon_name, else
// main.cf's when main.cf sets it; "" for neither. Postfix's default,
// $myhostname, is not carried over: Sluice's default is the listener's
// name, kept so that an upgrade changes no milter's decisions (README,
// Milters). A value the config would refuse is listed as not carried.
func (im *importer) milterDaemonName(s pfService, where string) (value, from string) {
	const param = "milter_macro_daemon_name"
	raw, own := s.opts[param]
	if !own && !im.p.set(param) {
		return "", ""
	}
	if own {
		value, from = im.smtpdOption(s, param)
	} else {
		value, from = im.p.value(param), param
	}
	if err := config.CheckMilterDaemonName(value); err != nil {
		why := "not a milter_daemon_name: " + err.Error()
		switch {
		case own:
			im.noteAt(fmt.Sprintf("%s -o %s=%s", where, param, raw), why)
		case !im.p.used[param]: // once, not once per service
			im.note(param, why)
		}
		return "", ""
	}
	if !own {
		im.p.take(param)
	}
	return value, from
}
