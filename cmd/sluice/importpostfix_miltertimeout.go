package main

import (
	"fmt"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// pfMilterTimeouts are Postfix's three milter timeouts: main.cf's
// parameter, the per-milter setting of Postfix 3's "{ inet:…,
// content_timeout=10m }" that overrides it, and Postfix's default
// (postconf(5)).
var pfMilterTimeouts = []struct{ param, setting, def string }{
	{"milter_connect_timeout", "connect_timeout", "30s"},
	{"milter_command_timeout", "command_timeout", "30s"},
	{"milter_content_timeout", "content_timeout", "300s"},
}

// pfNotLongest says why a milter timeout set by hand is not carried over.
const pfNotLongest = "one timeout a stage for connect and commands: the longer of each milter's connect and command timeouts is kept (see its timeout)"

// pfTimeout is one timeout as read: its length, its value as Sluice
// writes it, where it came from, the main.cf parameter it is ("" for a
// per-milter setting or a default) and whether it was set by hand.
type pfTimeout struct {
	d          time.Duration
	text, from string
	param      string
	set        bool
}

// pfDuration reads a Postfix time, seconds by default, as conv_time
// does; 0 is refused, as Postfix's milter timeouts have a minimum of 1.
func pfDuration(v string) (time.Duration, string, bool) {
	s, ok := pfTime(v, "s")
	if !ok {
		return 0, "", false
	}
	var d config.Duration
	if d.UnmarshalText([]byte(s)) != nil || d.Duration <= 0 {
		return 0, "", false
	}
	return d.Duration, s, true
}

// pfMilterTimes are main.cf's milter timeouts as the stages use them.
type pfMilterTimes struct {
	main    []pfTimeout     // main.cf's, or Postfix's defaults
	shorter map[string]bool // main.cf's set and not kept by some stage
	taken   map[string]bool // main.cf's kept by some stage
}

// milterTimes reads main.cf's three milter timeouts, Postfix's defaults
// where not set or not a time.
func (im *importer) milterTimes() *pfMilterTimes {
	p := im.p
	out := make([]pfTimeout, len(pfMilterTimeouts))
	for i, t := range pfMilterTimeouts {
		d, text, _ := pfDuration(t.def)
		out[i] = pfTimeout{d: d, text: text, from: fmt.Sprintf("%s (Postfix's default, %s)", t.param, t.def)}
		if !p.set(t.param) {
			continue
		}
		if d, text, ok := pfDuration(p.value(t.param)); ok {
			out[i] = pfTimeout{d: d, text: text, from: t.param + " = " + p.value(t.param), param: t.param, set: true}
			continue
		}
		im.note(t.param, "not a positive time: Postfix's default, "+t.def+", taken")
	}
	return &pfMilterTimes{main: out, shorter: map[string]bool{}, taken: map[string]bool{}}
}

// milterTimeout is a milter stage's two timeouts: timeout, the longer of
// the milter's connect and command timeouts, and data_timeout, its
// content timeout; main.cf's unless its own settings (param's "{ addr,
// command_timeout=… }") say otherwise.
//
// Postfix bounds the connect and negotiation by one, commands by
// another and the message content, where a scanner does its work, by a
// third (milter8.c, milter8_message). A Sluice stage's timeout bounds
// each read and write at connect and at each command, its data_timeout
// those of the headers, body and end of message (core/milter's budget).
// The longer of the first two is kept, so that no step Postfix waited
// for fails sooner; a milter that hangs at connect is waited for as long
// as at a command (30s by default, as under Postfix).
func (im *importer) milterTimeout(mt *pfMilterTimes, param, addr string, own map[string]string) (timeout, data pfTimeout) {
	main := mt.main
	ts := append([]pfTimeout(nil), main...)
	for i, t := range pfMilterTimeouts {
		v, ok := own[t.setting]
		if !ok {
			continue
		}
		if d, text, ok := pfDuration(v); ok {
			ts[i] = pfTimeout{d: d, text: text, from: fmt.Sprintf("%s's %s = %s", param, t.setting, v), set: true}
			continue
		}
		im.noteAt(fmt.Sprintf("%s %s %s=%s", param, addr, t.setting, v), "not a positive time: "+main[i].from+" taken")
	}
	// Connect (0) and command (1): a tie goes to the command timeout
	// unless only the connect one was set by hand, which is then named.
	long := 0
	if ts[1].d > ts[0].d || ts[1].d == ts[0].d && (ts[1].set || !ts[0].set) {
		long = 1
	}
	if short := 1 - long; ts[short].set {
		if ts[short].param == "" {
			im.noteAt(fmt.Sprintf("%s %s %s=%s", param, addr, pfMilterTimeouts[short].setting, own[pfMilterTimeouts[short].setting]), pfNotLongest)
		} else {
			mt.shorter[ts[short].param] = true
		}
	}
	for _, i := range []int{long, 2} {
		if ts[i].param != "" {
			im.p.take(ts[i].param)
			mt.taken[ts[i].param] = true
		}
	}
	timeout, data = ts[long], ts[2]
	timeout.from += ": the longer of the milter's connect and command timeouts, as the stage's timeout bounds each read at connect and at every command"
	data.from += ": the milter's content timeout, as the stage's data_timeout bounds each read of the headers, body and end of message (the scan)"
	return timeout, data
}

// shorterMilterTimeouts lists main.cf's connect and command timeouts
// that no stage took, each shorter than the stages' own.
func (im *importer) shorterMilterTimeouts(mt *pfMilterTimes) {
	for _, t := range pfMilterTimeouts {
		if mt.shorter[t.param] && !mt.taken[t.param] {
			im.note(t.param, pfNotLongest)
		}
	}
}
