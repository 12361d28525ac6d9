package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// clientLimits carries main.cf's per-client recipient rate and error
// tarpit to [limits] keys in b: smtpd_client_recipient_rate_limit (per
// anvil_rate_time_unit) as recipient_rate_per_ip, smtpd_soft_error_limit
// as soft_errors and smtpd_error_sleep_time as error_delay. Where
// main.cf leaves them out, Postfix's defaults are Sluice's (no recipient
// rate, 10, 1s) and nothing is written.
func (im *importer) clientLimits(b *strings.Builder) {
	im.clientRecipientRate(b)
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
		kv(b, "smtpd_error_sleep_time (error replies only; 0 turns the tarpit off)", "error_delay", tomlStr(d))
	}
}

// clientRecipientRate writes smtpd_client_recipient_rate_limit, N
// recipients an anvil_rate_time_unit (60s by default), as a token bucket
// holding N that refills at that pace, a minute's worth rounded up: it
// lets through what Postfix's window does, never less.
func (im *importer) clientRecipientRate(b *strings.Builder) {
	p := im.p
	if !p.set("smtpd_client_recipient_rate_limit") {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(p.value("smtpd_client_recipient_rate_limit")))
	if err != nil || n < 0 {
		im.note("smtpd_client_recipient_rate_limit", "not a number of recipients")
		return
	}
	p.take("smtpd_client_recipient_rate_limit")
	if n == 0 {
		kv(b, "smtpd_client_recipient_rate_limit = 0 (no limit)", "recipient_rate_per_ip", "{ per_minute = -1 }")
		return
	}
	unit, from := time.Minute, "smtpd_client_recipient_rate_limit (a minute: anvil_rate_time_unit not set, 60s)"
	if p.set("anvil_rate_time_unit") {
		d, _, ok := pfDuration(p.value("anvil_rate_time_unit"))
		if !ok {
			im.note("anvil_rate_time_unit", "not a time: smtpd_client_recipient_rate_limit read as a minute's")
		} else {
			p.take("anvil_rate_time_unit")
			unit, from = d, "smtpd_client_recipient_rate_limit, anvil_rate_time_unit"
		}
	}
	secs := int64(unit / time.Second) // pfDuration's are whole seconds, 1 or more
	perMinute := (int64(n)*60 + secs - 1) / secs
	from += "; counts accepted recipients, where Postfix counts every RCPT"
	kv(b, from, "recipient_rate_per_ip", fmt.Sprintf("{ per_minute = %d, burst = %d }", perMinute, n))
}
