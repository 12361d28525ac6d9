package main

import (
	"fmt"
	"strconv"
	"strings"
)

// pfSessionCount is a main.cf count with a [limits] key of the same
// meaning and unit.
type pfSessionCount struct {
	param, key, what string
	// off is the key's value for Postfix's 0, "" where Postfix takes no
	// 0 (its minimum is 1: it does not start) or zero says what 0 is.
	off, zero string
	// from is added to the comment naming param.
	from string
}

// pfSessionCounts are the counts written, in [limits]' order
// (postconf(5) for Postfix's meaning of each).
var pfSessionCounts = []pfSessionCount{
	{param: "smtpd_client_connection_count_limit", key: "max_connections_per_ip", what: "connections", off: "-1"},
	{param: "smtpd_recipient_limit", key: "max_recipients", what: "recipients"},
	// Postfix answers 421 to the command after the limit's error,
	// Sluice to the error past it: as many errors are answered.
	{param: "smtpd_hard_error_limit", key: "max_errors", what: "errors"},
	{param: "smtpd_junk_command_limit", key: "max_junk_commands", what: "commands"},
	// Postfix asks for this much beyond the message, and for 1.5 times
	// the message (smtpd_check_size); its default, 0, only the latter.
	{param: "queue_minfree", key: "queue_minfree", what: "bytes",
		zero: "0, Postfix's default: only room for 1.5 times the message is asked for; Sluice keeps queue_minfree (64 MiB by default) free beyond it"},
	{param: "smtpd_min_data_rate", key: "min_data_rate", what: "bytes a second",
		from: " (Postfix applies it under smtpd_per_request_deadline only, Sluice always)"},
}

// sessionLimits carries main.cf's smtpd counts and timeouts to [limits]
// keys in b, those main.cf sets only, as message_size_limit is read; a
// master.cf -o of one is listed with the other per-service settings, as
// Sluice's listeners share [limits].
func (im *importer) sessionLimits(b *strings.Builder) {
	p := im.p
	for _, c := range pfSessionCounts {
		if !p.set(c.param) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(p.value(c.param)))
		switch {
		case err == nil && n == 0 && c.off != "":
			kv(b, c.param+" = 0 (no limit)", c.key, c.off)
		case err == nil && n == 0 && c.zero != "":
			im.note(c.param, c.zero)
			continue
		case err != nil || n < 1:
			im.note(c.param, "not a positive number of "+c.what)
			continue
		default:
			kv(b, c.param+c.from, c.key, strconv.Itoa(n))
		}
		p.take(c.param)
	}
	im.hopcountLimit(b)
	if p.set("smtpd_client_ipv6_prefix_length") {
		n, err := strconv.Atoi(strings.TrimSpace(p.value("smtpd_client_ipv6_prefix_length")))
		if err != nil || n < 1 || n > 128 {
			im.note("smtpd_client_ipv6_prefix_length", "not a prefix length from 1 to 128, which client_ipv6_prefix_length takes")
		} else {
			p.take("smtpd_client_ipv6_prefix_length")
			kv(b, "smtpd_client_ipv6_prefix_length", "client_ipv6_prefix_length", strconv.Itoa(n))
		}
	}
	if p.set("smtpd_timeout") {
		if _, text, ok := pfDuration(p.value("smtpd_timeout")); !ok {
			im.note("smtpd_timeout", "not a positive time")
		} else {
			p.take("smtpd_timeout")
			kv(b, "smtpd_timeout (a whole command line)", "command_timeout", tomlStr(text))
			kv(b, "smtpd_timeout (Postfix's wait for each read of message data; min_data_rate earns more)", "data_timeout", tomlStr(text))
		}
	}
	im.eventLimitExceptions(b)
}

// hopcountLimit writes hopcount_limit as max_hops. Postfix's cleanup
// counts the Received: field its smtpd adds and refuses a message whose
// count reaches the limit, so L-2 arriving fields pass; Sluice counts
// the arriving ones and refuses more than max_hops (RFC 5321 §6.3).
func (im *importer) hopcountLimit(b *strings.Builder) {
	p := im.p
	if !p.set("hopcount_limit") {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(p.value("hopcount_limit")))
	switch {
	case err != nil || n < 1:
		im.note("hopcount_limit", "not a positive number of Received: fields")
	case n <= 2:
		im.note("hopcount_limit", "refuses every message that carries a Received: field: max_hops takes 1 or more")
	default:
		p.take("hopcount_limit")
		kv(b, fmt.Sprintf("hopcount_limit = %d (Postfix counts its own Received: field and refuses at the limit: %d arriving fields pass, as here)", n, n-2), "max_hops", strconv.Itoa(n-2))
	}
}

// pfMynetworks are the ways main.cf names mynetworks alone.
var pfMynetworks = []string{"$mynetworks", "${mynetworks}", "$(mynetworks)"}

// eventLimitExceptions reads smtpd_client_event_limit_exceptions (before
// Postfix 2.9 smtpd_client_connection_limit_exceptions): Sluice exempts
// relay_networks, Postfix's default $mynetworks, from the per-IP limits,
// and no other clients.
func (im *importer) eventLimitExceptions(b *strings.Builder) {
	p := im.p
	for _, param := range []string{"smtpd_client_connection_limit_exceptions", "smtpd_client_event_limit_exceptions"} {
		if !p.set(param) {
			continue
		}
		raw := strings.TrimSpace(p.raw(param))
		mine := false
		for _, m := range pfMynetworks {
			mine = mine || raw == m
		}
		if !mine {
			im.note(param, "relay_networks (mynetworks) are exempt from the per-IP limits, and no other clients: none for other exceptions")
			continue
		}
		p.take(param)
		fmt.Fprintf(b, "# %s = %s: relay_networks are exempt from the per-IP limits, as in Sluice\n", param, tomlComment(raw))
	}
}
