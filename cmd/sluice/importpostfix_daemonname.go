package main

import (
	"fmt"

	"github.com/sluice-mta/sluice/core/config"
)

// milterDaemonName is a service's listeners' milter_daemon_name and where
// it came from: the service's master.cf -o milter_macro_daemon_name, else
// main.cf's when main.cf sets it, else, when its sessions meet milters
// (runsMilters), Postfix's default, $myhostname: Sluice's own default is
// the listener's name (kept so that an upgrade changes no milter's
// decisions, README Milters), but a migrated site's milters should see
// what Postfix sent them (rspamd's Authentication-Results names it, opendkim's MTA list may
// match it). "" without milters or a value. A value the config would
// refuse is listed as not carried.
func (im *importer) milterDaemonName(s pfService, where string) (value, from string) {
	const param = "milter_macro_daemon_name"
	raw, own := s.opts[param]
	switch {
	case own:
		value, from = im.smtpdOption(s, param)
	case im.p.set(param):
		value, from = im.p.value(param), param
	case im.runsMilters(s):
		if v := im.p.value("myhostname"); config.CheckMilterDaemonName(v) == nil {
			return v, param + " (Postfix's default, $myhostname)"
		}
		return "", ""
	default:
		return "", ""
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
