package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/delivery"
)

// pfRateSuffix ends Postfix's per-transport rate delay: the queue
// manager reads <transport>_destination_rate_delay from main.cf for the
// master.cf transport of that name (postconf(5),
// transport_destination_rate_delay); a master.cf -o of it reaches the
// delivery agent only, which does not pace.
const pfRateSuffix = "_destination_rate_delay"

// pfRate is one transport's rate delay as Postfix's queue manager has
// it: a Go duration ("0s" is off) and the parameter that set it ("" for
// neither the transport's nor default_destination_rate_delay).
type pfRate struct{ d, param string }

// rateDelay writes [delivery] rate_delay and carries the per-transport
// delays onto the route rules. Mail no rule takes goes by
// default_transport in Postfix (to the MX or relayhost), so [delivery]
// rate_delay is that transport's delay; a rule whose transport has
// another gets its own rate_delay= (0s where Postfix's is off).
func (im *importer) rateDelay(b *strings.Builder, route *pfRoute) {
	p := im.p
	read := func(param string, fallback pfRate) pfRate {
		if !p.set(param) {
			return fallback
		}
		d, ok := pfDelay(p.value(param))
		if !ok {
			im.note(param, "not a time")
			return fallback
		}
		p.take(param)
		return pfRate{d, param}
	}
	base := read("default_destination_rate_delay", pfRate{d: "0s"})
	rates := map[string]pfRate{}
	rateOf := func(t string) pfRate {
		r, ok := rates[t]
		if !ok {
			r = read(t+pfRateSuffix, base)
			rates[t] = r
		}
		return r
	}
	def := pfTransportName(p.value("default_transport"))
	all := rateOf(def)
	if d, _ := time.ParseDuration(all.d); d > 0 {
		from := all.param + " = " + p.value(all.param)
		if all.param != "default_destination_rate_delay" {
			from += " (" + def + " is default_transport: MX and relayhost mail)"
		}
		kv(b, from, "rate_delay", tomlStr(all.d))
	}
	for i := range route.rules {
		r := &route.rules[i]
		if r.service == "" || r.transport == "discard" || r.transport == "reject" {
			continue
		}
		own := rateOf(r.service)
		if sameDelay(own.d, all.d) {
			continue
		}
		t := withRouteParam(r.transport, "rate_delay="+own.d)
		if _, err := delivery.ParseRoute(t); err != nil {
			im.noteAt(r.service+pfRateSuffix, fmt.Sprintf("not on the rule for %s: %v", r.match, err))
			continue
		}
		r.transport = t
		if own.param != "" {
			r.from += ", " + own.param + " = " + p.value(own.param)
		} else {
			r.from += ", no " + r.service + pfRateSuffix + " or default_destination_rate_delay (off)"
		}
	}
	im.noteUnusedTransportParams(pfRateSuffix)
}

// pfDelay is a Postfix time (seconds without a unit) as a Go duration,
// which a route's rate_delay= takes: days and weeks in hours.
func pfDelay(v string) (string, bool) {
	d, ok := pfTime(v, "s")
	if !ok {
		return "", false
	}
	if n, isDays := strings.CutSuffix(d, "d"); isDays {
		days, err := strconv.Atoi(n)
		if err != nil || days > 1<<20 {
			return "", false
		}
		d = strconv.Itoa(24*days) + "h"
	}
	if _, err := time.ParseDuration(d); err != nil {
		return "", false
	}
	return d, true
}

// sameDelay reports whether two Go durations are the same time (60s is 1m).
func sameDelay(a, b string) bool {
	da, errA := time.ParseDuration(a)
	db, errB := time.ParseDuration(b)
	return errA == nil && errB == nil && da == db
}

// pfRateOption is why master.cf's -o of a rate delay on transport is not
// carried: it never paced in Postfix either.
func pfRateOption(transport string) string {
	return "no effect in Postfix: the queue manager reads the rate delay from main.cf, where " + transport + pfRateSuffix + " becomes the rate_delay= of the route rules naming " + transport
}
