package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
)

// suspendSubs are the queue subcommands of suspended delivery.
var suspendSubs = map[string]bool{"suspend": true, "resume": true, "suspended": true}

// checkSuspendFlags checks --domain, --for and --reason before the daemon
// is asked: suspend and resume need --domain, --for and --reason are
// suspend's.
func checkSuspendFlags(fs *flag.FlagSet, sub, forDur, reason string) error {
	for _, name := range []string{"for", "reason"} {
		if isSet(fs, name) && sub != "suspend" {
			return fmt.Errorf("--%s is for queue suspend", name)
		}
	}
	if (sub == "suspend" || sub == "resume") && !isSet(fs, "domain") {
		return fmt.Errorf("queue %s needs --domain D", sub)
	}
	if sub == "suspend" {
		if _, err := admin.ParseSuspendFor(forDur); err != nil {
			return fmt.Errorf("--%w", err)
		}
		if err := admin.CheckSuspendReason(reason); err != nil {
			return fmt.Errorf("--%w", err)
		}
	}
	return nil
}

// queueSuspend runs queue suspend, resume and suspended.
func queueSuspend(w io.Writer, cl *admin.Client, sub, domain, forDur, reason string, asJSON bool) error {
	switch sub {
	case "suspend":
		d, _ := admin.ParseSuspendFor(forDur) // checked
		r, raw, err := cl.Suspend(domain, d, reason)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(w, raw)
		}
		fmt.Fprintf(w, "delivery to %s suspended %s\n", printable(r.Domain), untilText(r.Until))
	case "resume":
		raw, err := cl.Resume(domain)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(w, raw)
		}
		site, _ := admin.ParseSite(domain)
		fmt.Fprintf(w, "delivery to %s resumed, its mail scheduled now\n", printable(site))
	case "suspended":
		l, raw, err := cl.Suspended()
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(w, raw)
		}
		if len(l.Suspended) == 0 {
			fmt.Fprintln(w, "no domain suspended")
			return nil
		}
		fmt.Fprintf(w, "%-30s %-25s %s\n", "DOMAIN", "UNTIL", "REASON")
		for _, s := range l.Suspended {
			until := "resumed"
			if !s.Until.IsZero() {
				until = s.Until.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%-30s %-25s %s\n", printable(s.Domain), until, printable(s.Reason))
		}
	default:
		return errors.New("unknown queue subcommand " + sub)
	}
	return nil
}

// untilText says how long a suspension lasts.
func untilText(until time.Time) string {
	if until.IsZero() {
		return "until resumed"
	}
	return "until " + until.UTC().Format(time.RFC3339)
}
