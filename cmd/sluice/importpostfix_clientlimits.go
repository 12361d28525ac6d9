package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// clientLimits carries main.cf's per-client rates and error tarpit to
// [limits] keys in b: smtpd_client_connection_rate_limit,
// smtpd_client_message_rate_limit and smtpd_client_recipient_rate_limit
// (each per anvil_rate_time_unit) as connection_rate_per_ip,
// message_rate_per_ip and recipient_rate_per_ip, smtpd_soft_error_limit
// as soft_errors and smtpd_error_sleep_time as error_delay. Only what
// main.cf sets is written, as for the other keys: left out, Sluice's
// defaults apply (the tarpit's are Postfix's; its connection and message
// rates are on, where Postfix's are off).
func (im *importer) clientLimits(b *strings.Builder) {
	unit := im.anvilUnit()
	for _, r := range pfAnvilRates {
		im.anvilRate(b, unit, r)
	}
	p := im.p
	if p.set("smtpd_soft_error_limit") {
		switch n, err := strconv.Atoi(strings.TrimSpace(p.value("smtpd_soft_error_limit"))); {
		case err != nil || n < 0:
			im.note("smtpd_soft_error_limit", "not a number of errors")
		case n == 0:
			im.note("smtpd_soft_error_limit", "0 delays every reply from the first; soft_errors counts 1 or more errors (0 is its default, 10): set it by hand")
		default:
			p.take("smtpd_soft_error_limit")
			kv(b, "smtpd_soft_error_limit", "soft_errors", strconv.Itoa(n))
		}
	}
	if p.set("smtpd_error_sleep_time") {
		d, ok := pfTime(p.value("smtpd_error_sleep_time"), "s")
		var v config.Duration
		if !ok || v.UnmarshalText([]byte(d)) != nil {
			im.note("smtpd_error_sleep_time", "not a time")
			return
		}
		p.take("smtpd_error_sleep_time")
		kv(b, "smtpd_error_sleep_time (0 turns the tarpit off)", "error_delay", tomlStr(d))
	}
}

// pfAnvilRate is one of anvil's per-client rates: N events an
// anvil_rate_time_unit, 0 for none.
type pfAnvilRate struct {
	param, key, what string
	bucket           bool // the key is a { per_minute, burst } token bucket
}

// pfAnvilRates are the rates written, in [limits]' order.
var pfAnvilRates = []pfAnvilRate{
	{param: "smtpd_client_connection_rate_limit", key: "connection_rate_per_ip", what: "connections"},
	{param: "smtpd_client_message_rate_limit", key: "message_rate_per_ip", what: "messages", bucket: true},
	{param: "smtpd_client_recipient_rate_limit", key: "recipient_rate_per_ip", what: "recipients", bucket: true},
}

// anvilUnit returns anvil_rate_time_unit (60s by default) and the words
// naming it, read once, when a rate first asks: a unit that is not a
// time is listed, and the rates read as a minute's.
func (im *importer) anvilUnit() func() (time.Duration, string) {
	var unit time.Duration
	var from string
	return func() (time.Duration, string) {
		if unit != 0 {
			return unit, from
		}
		p := im.p
		unit, from = time.Minute, "a minute: anvil_rate_time_unit not set, 60s"
		if p.set("anvil_rate_time_unit") {
			d, _, ok := pfDuration(p.value("anvil_rate_time_unit"))
			if !ok {
				im.note("anvil_rate_time_unit", "not a time: the client rate limits read as a minute's")
				from = "a minute: anvil_rate_time_unit is not a time"
			} else {
				p.take("anvil_rate_time_unit")
				unit, from = d, "anvil_rate_time_unit = "+p.value("anvil_rate_time_unit")
			}
		}
		return unit, from
	}
}

// anvilRate writes r, N an anvil_rate_time_unit, as a minute's rate
// rounded up. A token bucket holds N and refills at that pace: it lets
// through what Postfix's window does, never less. connection_rate_per_ip
// is a count a minute, its own burst: with a unit longer than a minute
// the burst is smaller than Postfix's N, which the comment says. Postfix's
// 0 is no limit, -1.
func (im *importer) anvilRate(b *strings.Builder, unitOf func() (time.Duration, string), r pfAnvilRate) {
	p := im.p
	if !p.set(r.param) {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(p.value(r.param)))
	if err != nil || n < 0 {
		im.note(r.param, "not a number of "+r.what)
		return
	}
	p.take(r.param)
	if n == 0 {
		value := "-1"
		if r.bucket {
			value = "{ per_minute = -1 }"
		}
		kv(b, r.param+" = 0 (no limit)", r.key, value)
		return
	}
	unit, unitFrom := unitOf()
	secs := int64(unit / time.Second) // pfDuration's are whole seconds, 1 or more
	perMinute := (int64(n)*60 + secs - 1) / secs
	from := r.param + " (" + unitFrom + ")"
	if r.bucket {
		kv(b, from, r.key, fmt.Sprintf("{ per_minute = %d, burst = %d }", perMinute, n))
		return
	}
	if perMinute < int64(n) {
		from += fmt.Sprintf("; at most %d at once, where Postfix lets %d through within its unit", perMinute, n)
	}
	kv(b, from, r.key, strconv.FormatInt(perMinute, 10))
}
