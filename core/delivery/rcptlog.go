package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/bounceclass"
)

// A msg=recipient line is logged for each recipient outcome, as Postfix's
// maillog has one line per recipient (to=, relay=, delay=, dsn=,
// status=): an operator greps the address or status=bounced, and a log
// summariser counts one line per recipient, which a destination's
// "delivery attempt" line with result=mixed does not allow. The lines are
// written once the outcomes are committed to the queue, from the commit
// that recorded them: a recipient saved early (recordDelivered) is done
// by the time the attempt's record runs and is not logged again, and a
// commit that change redoes logs once.

// Status words of the recipient line, Postfix's where Postfix has one.
const (
	statusSent      = "sent"
	statusDeferred  = "deferred"
	statusBounced   = "bounced"
	statusExpired   = "expired"
	statusDiscarded = "discarded"
)

// rcptLine is one recipient's outcome, as logged.
type rcptLine struct {
	rcpt, orcpt string
	from        string // the message's envelope sender, "" for the null sender
	via         string // the hop as the attempt line names it; "none": no server answered
	status      string
	dsn         string // the enhanced status code (RFC 3463)
	class       string // a failure's class (bounceclass); "" for sent and discarded
	reply       string
	delay       time.Duration // since the message was queued
	attempts    int
	softBounce  bool
}

// lineOf is the line for recipient r of m, whose outcome o was recorded on
// r at now (noteTried).
func lineOf(m *envelope.Message, r *envelope.Recipient, o outcome, now time.Time) rcptLine {
	l := rcptLine{rcpt: r.Addr, orcpt: origRcpt(r), from: m.From, via: o.via, reply: r.LastReply,
		attempts: r.Attempts, softBounce: o.softBounced}
	if l.via == "" {
		l.via = "none"
	}
	if !m.Received.IsZero() {
		l.delay = now.Sub(m.Received)
	}
	switch {
	case r.Status == envelope.RcptDelivered && o.discarded:
		l.status = statusDiscarded
	case r.Status == envelope.RcptDelivered:
		l.status = statusSent
	case r.Status == envelope.RcptFailed:
		l.status = statusBounced
	default:
		l.status = statusDeferred
	}
	l.dsn = dsnOf(l.reply, r.Status)
	if r.Status == envelope.RcptPending && l.dsn[0] == '5' {
		// A deferral's code is a deferral's, the reply quoted as it came,
		// as Postfix logs it: soft_bounce's 5.1.1 becomes 4.1.1, as does
		// a 5xx greeting's (smtp_skip_5xx_greeting) and a 552 to RCPT.
		l.dsn = "4" + l.dsn[1:]
	}
	if l.status == statusBounced || l.status == statusDeferred {
		l.class = classOf(l.reply)
	}
	return l
}

// classOf is the bounce class of a recipient's reply: an administrator's
// doing for a recipient left untried because its domain's delivery is
// suspended (sluice queue suspend), whose 4.0.0 says nothing of the
// domain's mail, else what bounceclass reads in the reply.
func classOf(text string) string {
	if strings.HasPrefix(text, suspendedDelivery.String()) {
		return string(bounceclass.Admin)
	}
	return string(bounceclass.Of(text))
}

// expiredClass is the class of an expired recipient whose reply is
// reply.Expired quoting the last reply before it: that last reply's, as
// the expiry (X.4.7) says nothing of why the mail never went.
func expiredClass(lastReply string) string {
	last, _ := strings.CutPrefix(lastReply, reply.Expired.String())
	last = strings.TrimSpace(last)
	if strings.HasPrefix(last, "(") && strings.HasSuffix(last, ")") {
		last = last[1 : len(last)-1]
	}
	return classOf(last)
}

// origRcpt is r's ORCPT address (RFC 3461 §4.2, stored "type;addr") when
// it differs from the address delivered to, as Postfix logs orig_to=.
func origRcpt(r *envelope.Recipient) string {
	if r.ORcpt == "" {
		return ""
	}
	addr := r.ORcpt
	if _, a, ok := strings.Cut(addr, ";"); ok {
		addr = strings.TrimSpace(a)
	}
	if addr == r.Addr {
		return ""
	}
	return addr
}

// dsnOf is the enhanced status code (RFC 3463) a reply text ("550 5.1.1
// no such user") carries or, for a reply without one (a server that does
// not send them, a broken connection of ours), X.0.0 of the class its
// basic code or, lacking that, the recipient's status gives.
func dsnOf(text string, status envelope.RcptStatus) string {
	code, rest, _ := strings.Cut(text, " ")
	class := byte(0)
	if len(code) == 3 && code[0] >= '2' && code[0] <= '5' && isDigits(code) {
		class = code[0]
		if ec, _, _ := strings.Cut(rest, " "); ec != "" && ec[0] == class && enhanced(ec) {
			return ec
		}
	}
	if class == 0 || class == '3' {
		switch status {
		case envelope.RcptDelivered:
			class = '2'
		case envelope.RcptFailed:
			class = '5'
		default:
			class = '4'
		}
	}
	return string(class) + ".0.0"
}

// enhanced reports whether s is "class.subject.detail" (RFC 3463 §2):
// up to three digits and up to three digits after the class.
func enhanced(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || len(parts[0]) != 1 {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || !isDigits(p) {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// delaySeconds renders d as Postfix's delay= does: whole seconds from
// 10 s on, two significant digits below, "0" under its 10 ms resolution.
func delaySeconds(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s < 0.01:
		return "0"
	case s >= 10:
		return strconv.FormatInt(int64(s), 10)
	}
	return fmt.Sprintf("%.2g", s)
}

// logRcpts writes lines, each with the id of the report (bounce, delay
// warning, success report) queued for its recipient in the same commit,
// if one was: a failure's line leads to the report its sender got, as
// Postfix's "sender non-delivery notification" line does.
func (a *Agent) logRcpts(id string, lines []rcptLine, reported map[string]string) {
	for _, l := range lines {
		attrs := []any{"id", id, "rcpt", l.rcpt}
		if l.orcpt != "" {
			attrs = append(attrs, "orcpt", l.orcpt)
		}
		// The sender too, as KumoMTA's and an ESP's delivery records
		// carry it: a log consumer (suppression per sender, bounce
		// rates per customer) needs no join with the message's
		// reception line, which may be in an older log.
		attrs = append(attrs, "from", l.from)
		attrs = append(attrs, "via", l.via, "status", l.status, "dsn", l.dsn)
		if l.class != "" {
			// What a sender acts on, as KumoMTA's bounce
			// classification: drop the address, wait, fix TLS.
			attrs = append(attrs, "class", l.class)
			a.metrics.DeliveryFailure(l.class, l.status)
		}
		attrs = append(attrs, "reply", l.reply, "delay", delaySeconds(l.delay), "attempts", l.attempts)
		if l.softBounce {
			attrs = append(attrs, "soft_bounce", true)
		}
		if rep := reported[l.rcpt]; rep != "" {
			attrs = append(attrs, "report", rep)
		}
		level := slog.LevelInfo
		if l.status == statusBounced || l.status == statusExpired {
			// A failure was a WARN line before this one replaced it.
			level = slog.LevelWarn
		}
		a.log.Log(context.Background(), level, "recipient", attrs...)
	}
}
