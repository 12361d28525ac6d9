package delivery

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/mailhdr"
	"github.com/sluice-mta/sluice/sdk"
)

// OutcomeHook is told, once a commit has recorded them, what became of
// recipients of m (the message as committed): the pipeline's outcome
// hook. It must return at once: the stages are called in the background
// (core/pipeline/outcome.go). Wants reports whether any stage would be
// told, so that delivery builds nothing when none would.
type OutcomeHook struct {
	Wants  func() bool
	Notify func(m *envelope.Message, o sdk.Outcome)
}

// notifyOutcome tells the outcome hook of the recipient outcomes in lines,
// which the commit that gave m recorded; admin marks an administrator's
// bounce. body is the message, for its Message-ID and Subject.
//
// early marks recipients saved before the attempt's record (recordDelivered),
// which counts the attempt in m.Attempts only after them: they were
// delivered by that attempt, so it is counted for them too.
func (a *Agent) notifyOutcome(m *envelope.Message, lines []rcptLine, body []byte, admin, early bool) {
	h := a.outcomeHook
	if h.Notify == nil || m == nil || len(lines) == 0 || (h.Wants != nil && !h.Wants()) {
		return
	}
	o := sdk.Outcome{Attempt: m.Attempts, Admin: admin}
	if early {
		o.Attempt++
	}
	o.QueueAge = lines[0].delay
	o.MessageID, o.Subject = outcomeHeader(body)
	for _, l := range lines {
		ro := sdk.RecipientOutcome{Addr: l.rcpt, ORcpt: l.orcpt, Attempts: l.attempts}
		switch l.status {
		case statusSent:
			ro.Status = sdk.OutcomeDelivered
		case statusDiscarded:
			ro.Status = sdk.OutcomeDiscarded
		case statusBounced:
			ro.Status = sdk.OutcomeFailed
		case statusExpired:
			ro.Status, ro.Expired = sdk.OutcomeFailed, true
		default:
			ro.Status = sdk.OutcomeDeferred
		}
		ro.Code, ro.Enhanced, ro.Text = splitReply(l.reply, l.dsn)
		ro.Class = l.class
		for i := range m.Rcpts {
			if r := &m.Rcpts[i]; r.Addr == l.rcpt {
				ro.RemoteMTA, ro.Route = r.RemoteMTA, r.Route
				break
			}
		}
		o.Rcpts = append(o.Rcpts, ro)
	}
	h.Notify(m, o)
}

// splitReply cuts a stored reply ("550 5.1.1 No such user") into its
// code, enhanced code and text; dsn is the enhanced code the recipient's
// line gives (dsnOf), which a reply without one is given. A deferral's dsn
// is of class 4 though its reply be a 5xx (a 554 5.7.1 greeting, a 552 to
// RCPT, soft_bounce): the reply's own enhanced code is not text either.
func splitReply(s, dsn string) (code int, enh, text string) {
	c, rest, _ := strings.Cut(s, " ")
	if len(c) != 3 || !isDigits(c) {
		return 0, dsn, s
	}
	code, _ = strconv.Atoi(c)
	if ec, after, _ := strings.Cut(rest, " "); ec == dsn || ec != "" && ec[0] == c[0] && enhanced(ec) {
		rest = after
	}
	return code, dsn, rest
}

// maxOutcomeField bounds the Message-ID and Subject a notification
// carries: RFC 5322 §2.1.1's line limit, so that a message with a huge
// folded Subject costs a queued notification (up to 1,024 a stage) no
// more than a line.
const maxOutcomeField = 998

// outcomeHeader is the message's Message-ID and Subject, unfolded and cut
// to maxOutcomeField bytes: all the outcome hook reads of it, so that a
// notification stays cheap.
func outcomeHeader(msg []byte) (messageID, subject string) {
	for b := msg; len(b) > 0 && (messageID == "" || subject == ""); {
		if _, ok := mailhdr.BlankLine(b); ok {
			break
		}
		f, ok := mailhdr.Field(b)
		if !ok {
			break
		}
		name := string(b[:f.Name])
		value := func() string {
			// Unfolding (RFC 5322 §2.2.3) only shortens it: a few times
			// the bound is enough to read for what is kept.
			raw := b[f.Colon+1 : f.End]
			raw = raw[:min(len(raw), 4*maxOutcomeField)]
			v := bytes.ReplaceAll(raw, []byte("\r\n"), nil)
			v = bytes.ReplaceAll(v, []byte("\n"), nil)
			return cutUTF8(strings.TrimSpace(strings.ToValidUTF8(string(v), "\uFFFD")), maxOutcomeField)
		}
		switch {
		case messageID == "" && strings.EqualFold(name, "Message-ID"):
			messageID = value()
		case subject == "" && strings.EqualFold(name, "Subject"):
			subject = value()
		}
		b = b[f.End:]
	}
	return messageID, subject
}

// cutUTF8 is s cut to at most n bytes, not inside a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
