package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// deliveryTimes carries main.cf's SMTP client timeouts and queue backoff
// to [delivery] keys in b, those main.cf sets only: smtp_connect_timeout
// as connect_timeout, the command timeouts as command_timeout and
// minimal_backoff_time and maximal_backoff_time as retry.
func (im *importer) deliveryTimes(b *strings.Builder) {
	p := im.p
	if p.set("smtp_connect_timeout") {
		switch d, _, ok := pfDuration(p.value("smtp_connect_timeout")); {
		case ok:
			p.take("smtp_connect_timeout")
			kv(b, "smtp_connect_timeout", "connect_timeout", tomlStr(pfDurationText(d)))
		case pfZeroTime(p.value("smtp_connect_timeout")):
			im.note("smtp_connect_timeout", "0, the system's own TCP connect timeout (about 2 minutes on Linux): connect_timeout takes a time (30s by default), by hand")
		default:
			im.note("smtp_connect_timeout", "not a time")
		}
	}
	im.commandTimeout(b)
	im.backoff(b)
}

// pfSMTPTimeouts are Postfix's SMTP client timeouts for a command's reply,
// and for the message's writes, with their defaults (postconf(5)).
// Sluice's command_timeout bounds each of these, and twice it the reply
// to the final dot (RFC 5321 §4.5.3.2: 5 minutes, 10 for the dot), which
// is smtp_data_done_timeout's.
var pfSMTPTimeouts = []struct {
	param, def string
	dot        bool // the final dot's: command_timeout is half of it
}{
	{"smtp_helo_timeout", "300s", false},
	{"smtp_starttls_timeout", "300s", false},
	{"smtp_mail_timeout", "300s", false},
	{"smtp_rcpt_timeout", "300s", false},
	{"smtp_data_init_timeout", "120s", false},
	{"smtp_data_xfer_timeout", "180s", false},
	{"smtp_data_done_timeout", "600s", true},
	{"smtp_rset_timeout", "20s", false},
	{"smtp_quit_timeout", "300s", false},
}

// pfShorterCommand says why a command timeout set by hand is not carried.
const pfShorterCommand = "one command_timeout for every command's reply (twice it for the final dot's): the longest of Postfix's is kept (see command_timeout)"

// commandTimeout writes the longest wait of Postfix's SMTP client
// timeouts, where main.cf sets one, as command_timeout: Sluice then
// gives up on a silent server no sooner than Postfix did at any step
// (Postfix's defaults come to Sluice's own, 5m). Those set shorter are
// listed, as the milter timeouts are.
func (im *importer) commandTimeout(b *strings.Builder) {
	p := im.p
	type wait struct {
		param, from string
		need        time.Duration
		set         bool
	}
	var waits []wait
	anySet := false
	for _, t := range pfSMTPTimeouts {
		d, _, _ := pfDuration(t.def)
		from := t.param + " (not set: " + t.def + ", Postfix's default)"
		set := p.set(t.param)
		if set {
			if v, _, ok := pfDuration(p.value(t.param)); ok {
				d, from = v, t.param+" = "+p.value(t.param)
				anySet = true
			} else {
				im.note(t.param, "not a positive time")
				set = false
			}
		}
		need := d
		if t.dot {
			need = (d/time.Second + 1) / 2 * time.Second // whole seconds, rounded up
			from += ", half of it"
		}
		waits = append(waits, wait{t.param, from, need, set})
	}
	if !anySet {
		return
	}
	// The longest; of equal ones, one main.cf sets.
	best := 0
	for i, w := range waits {
		if w.need > waits[best].need || w.need == waits[best].need && w.set && !waits[best].set {
			best = i
		}
	}
	for _, w := range waits {
		switch {
		case !w.set:
		case w.need == waits[best].need:
			p.take(w.param)
		default:
			im.note(w.param, pfShorterCommand)
		}
	}
	kv(b, waits[best].from+": the longest of Postfix's SMTP command timeouts (Sluice waits twice command_timeout for the final dot's reply)",
		"command_timeout", tomlStr(pfDurationText(waits[best].need)))
}

// backoff writes minimal_backoff_time and maximal_backoff_time (300s and
// 4000s by default) as a retry list. Postfix's queue manager defers a
// message for as long as it has been queued, at least the one and at
// most the other (qmgr_active_done), so its waits double: 300s, 300s,
// 600s, 1200s, 2400s, then 4000s on. The list ends at the longest, which
// Sluice repeats.
func (im *importer) backoff(b *strings.Builder) {
	p := im.p
	if !p.set("minimal_backoff_time") && !p.set("maximal_backoff_time") {
		return
	}
	var from []string
	bound := func(param, def string) time.Duration {
		d, _, _ := pfDuration(def)
		switch {
		case !p.set(param):
			from = append(from, param+" (not set: "+def+", Postfix's default)")
		default:
			v, _, ok := pfDuration(p.value(param))
			if !ok {
				im.note(param, "not a positive time: retry made with Postfix's default, "+def)
				from = append(from, param+" (not a time: "+def+", Postfix's default)")
				break
			}
			p.take(param)
			d = v
			from = append(from, param+" = "+p.value(param))
		}
		return d
	}
	lo := bound("minimal_backoff_time", "300s")
	hi := bound("maximal_backoff_time", "4000s")
	var list []string
	for _, d := range pfBackoff(lo, hi) {
		list = append(list, pfDurationText(d))
	}
	kv(b, strings.Join(from, ", ")+": Postfix waits as long as the message has been queued, within these bounds", "retry", tomlStrs(list))
}

// pfBackoff is the waits between attempts of a message Postfix defers
// each time, from its arrival: its age within lo and hi (hi checked
// first, as the queue manager does), until the wait stops growing.
func pfBackoff(lo, hi time.Duration) []time.Duration {
	var out []time.Duration
	last := max(lo, hi)
	for age := time.Duration(0); ; {
		d := max(min(age, hi), lo)
		out = append(out, d)
		if d == last {
			return out
		}
		if d >= hi-age { // age stops mattering at hi; no overflow
			age = hi
		} else {
			age += d
		}
	}
}

// pfZeroTime reports whether v is a Postfix time of 0 ("0", "0s").
func pfZeroTime(v string) bool {
	s, ok := pfTime(v, "s")
	n, err := strconv.Atoi(strings.TrimRight(s, "smhd"))
	return ok && err == nil && n == 0
}

// pfDurationText writes d in days, hours or minutes where it is a whole
// number of them, else as Go does ("1h6m40s").
func pfDurationText(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}
