// Package bounce builds delivery status notifications: RFC 3464
// multipart/report messages telling a sender what became of the
// recipients of a message, as RFC 3461 (the SMTP DSN extension) asks.
// It knows nothing of the queue or of delivery: the caller says who
// failed, was delayed or was delivered, and gets the report's bytes.
package bounce

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Action is a recipient's Action field (RFC 3464 §2.3.3).
type Action string

// The actions of RFC 3464 §2.3.3.
const (
	Failed    Action = "failed"
	Delayed   Action = "delayed"
	Delivered Action = "delivered"
	Relayed   Action = "relayed"
	Expanded  Action = "expanded"
)

// The NOTIFY values of RFC 3461 §4.1.
const (
	NotifyNever   = "NEVER"
	NotifySuccess = "SUCCESS"
	NotifyFailure = "FAILURE"
	NotifyDelay   = "DELAY"
)

// Wants reports whether a recipient given notify (its NOTIFY= values)
// asked for a report of action a. Without NOTIFY, failures and delays
// are reported (RFC 3461 §4.1: the default is FAILURE, and DELAY at the
// MTA's option); NEVER asks for nothing.
func Wants(notify []string, a Action) bool {
	has := map[string]bool{}
	for _, n := range notify {
		has[strings.ToUpper(strings.TrimSpace(n))] = true
	}
	if len(has) == 0 {
		return a == Failed || a == Delayed
	}
	if has[NotifyNever] {
		return false
	}
	switch a {
	case Failed:
		return has[NotifyFailure]
	case Delayed:
		return has[NotifyDelay]
	case Delivered, Relayed, Expanded:
		return has[NotifySuccess]
	}
	return false
}

// Recipient is one per-recipient block of the report (RFC 3464 §2.3).
type Recipient struct {
	Addr  string // Final-Recipient
	ORcpt string // ORCPT= as given ("rfc822;addr" or a bare address); optional
	// Action is what happened to the recipient.
	Action Action
	// Status is the RFC 3463 code ("5.1.1"). Empty: the enhanced code of
	// Diagnostic when it has one of the action's class, else X.0.0.
	Status string
	// Diagnostic is the SMTP reply on one line ("550 5.1.1 no such
	// user"), the Diagnostic-Code; optional.
	Diagnostic string
	// RemoteMTA is the host that gave Diagnostic; optional.
	RemoteMTA      string
	LastAttempt    time.Time // optional
	WillRetryUntil time.Time // for Delayed; optional
}

// Options describe one report.
type Options struct {
	// Hostname is the Reporting-MTA, the domain of MAILER-DAEMON and the
	// "by" host of the report's Received field.
	Hostname string
	// ID is the report's own queue id, the "id" of its Received field;
	// optional.
	ID string
	// To is who the report goes to: the original sender.
	To string
	// EnvID is the original ENVID= (RFC 3461 §4.4); optional.
	EnvID   string
	Arrival time.Time // when the original message was received
	Date    time.Time // of the report; default now
	// Return is the original RET= (RFC 3461 §4.3): "HDRS" returns only the
	// original's header, anything else the whole message.
	Return string
	// MaxReturn is the largest original returned whole; a larger one is
	// returned as its header, itself cut to MaxReturn at a line end when
	// longer. Zero: no limit.
	MaxReturn int
	// Redact returns nothing of the original, header included: it was
	// received with REQUIRETLS (RFC 8689 §5), and the report, sent
	// without REQUIRETLS so that it is not lost on the way back, must
	// not carry what the sender wanted sent only over verified TLS.
	Redact bool
	// Original is the message reported on (header and body, CRLF).
	Original []byte
	Rcpts    []Recipient
	// Templates replace the built-in From display name, Subject and
	// text for the kinds of report they have (a bounce(5) file,
	// ParseTemplates); nil keeps the built-in ones. DelayWarning and
	// MaxAge are what their $delay_warning_time and
	// $maximal_queue_lifetime expand to, Hostname their $myhostname.
	Templates            *Templates
	DelayWarning, MaxAge time.Duration
	// Postmaster: the report goes to the postmaster (double_bounce_to),
	// not to the sender, as Postfix's postmaster copy: a template's
	// Postmaster-Subject is its Subject and its text is not used (Postfix
	// sends the template's text to the sender only).
	Postmaster bool
}

// Build returns the report as a complete message (header and body, CRLF
// line ends), From MAILER-DAEMON and To opt.To, under a Received field of
// its own (see Received). The caller sends it with the null reverse-path
// (RFC 3461 §6.2, RFC 5321 §4.5.5).
func Build(opt Options) ([]byte, error) {
	if len(opt.Rcpts) == 0 {
		return nil, errors.New("bounce: a report needs at least one recipient")
	}
	if opt.Hostname == "" {
		return nil, errors.New("bounce: no hostname")
	}
	if opt.Date.IsZero() {
		opt.Date = time.Now()
	}
	opt.Rcpts = clean(opt.Rcpts)
	// RFC 3461 §4.3: RET asks for the whole message only in a report of
	// failure; one that tells of no failure (a delay warning, a success
	// report) SHOULD return the header alone, as Postfix's do.
	headersOnly := strings.EqualFold(opt.Return, "HDRS") || !anyFailed(opt.Rcpts)
	truncated := !headersOnly && opt.MaxReturn > 0 && len(opt.Original) > opt.MaxReturn
	original := opt.Original
	if headersOnly || truncated {
		original = capLines(header(opt.Original), opt.MaxReturn)
	}
	if opt.Redact {
		original = nil
	}
	// RFC 6532 §3.7, RFC 6533 §6.3: an original whose header section is
	// UTF-8 (an SMTPUTF8 message) is returned as message/global or
	// message/global-headers; message/rfc822 and text/rfc822-headers
	// allow only ASCII there. A header with 8-bit bytes that are not
	// UTF-8 (raw Latin-1, or junk) is no message/global either (RFC 6532
	// §3.2 has its fields in UTF-8): it goes back as message/rfc822,
	// declared 8bit.
	hdr := header(opt.Original)
	intl := !ascii(string(hdr)) && utf8.Valid(hdr)
	boundary := newBoundary(original)
	tpl := opt.Templates.forReport(opt.Rcpts)

	var b bytes.Buffer
	b.WriteString(Received(opt.Hostname, opt.ID, opt.Date))
	field(&b, "From", fromField(tpl, opt.Hostname))
	field(&b, "To", "<"+opt.To+">")
	field(&b, "Subject", subjectField(tpl, opt.Rcpts, opt.Postmaster))
	field(&b, "Date", opt.Date.Format(time.RFC1123Z))
	field(&b, "Message-ID", "<"+randomHex(12)+"@"+opt.Hostname+">")
	if id := originalID(opt.Original); id != "" {
		field(&b, "In-Reply-To", id)
		field(&b, "References", id)
	}
	// RFC 3834 §5: a machine-generated reply; RFC 3464 §2: the report.
	field(&b, "Auto-Submitted", "auto-replied")
	field(&b, "MIME-Version", "1.0")
	// RFC 6522 §3: the report-type is the subtype of the second part,
	// message/global-delivery-status when a field is UTF-8 (RFC 6533 §6).
	// Postfix and mox write delivery-status over it; a reader that knows
	// only delivery-status could not read the part either way.
	status := deliveryStatus(opt)
	reportType := "delivery-status"
	if !ascii(status) {
		reportType = "global-delivery-status"
	}
	field(&b, "Content-Type", `multipart/report; report-type=`+reportType+`; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a MIME-encapsulated message.\r\n")

	// 1: the human-readable part (RFC 3462 §1), in the template's
	// charset when it has one.
	if opt.Postmaster {
		tpl = nil
	}
	text, charset := humanText(opt, headersOnly, truncated, tpl), "utf-8"
	if tpl != nil {
		text, charset = tpl.encode(text)
	}
	b.WriteString("\r\n--" + boundary + "\r\n")
	field(&b, "Content-Description", "Notification")
	field(&b, "Content-Type", "text/plain; charset="+charset)
	field(&b, "Content-Transfer-Encoding", encoding(text))
	b.WriteString("\r\n" + text)

	// 2: the machine-readable part (RFC 3464 §2). Any UTF-8 in its fields
	// makes it message/global-delivery-status (RFC 6533 §6).
	b.WriteString("\r\n--" + boundary + "\r\n")
	field(&b, "Content-Description", "Delivery report")
	field(&b, "Content-Type", "message/"+reportType)
	if reportType != "delivery-status" {
		field(&b, "Content-Transfer-Encoding", "8bit")
	}
	b.WriteString("\r\n" + status)

	// 3: the original message or its header (RFC 3462 §1, RFC 3461 §4.3).
	// Only a report of failure calls the original undelivered; a delay
	// warning or a success report returns "Message headers", as Postfix's
	// ("Message Headers") and OpenSMTPD's do.
	desc := "Message"
	if anyFailed(opt.Rcpts) {
		desc = "Undelivered message"
	}
	if len(original) > 0 {
		b.WriteString("\r\n--" + boundary + "\r\n")
		switch {
		case (headersOnly || truncated) && intl:
			field(&b, "Content-Description", desc+" headers")
			field(&b, "Content-Type", "message/global-headers")
		case headersOnly || truncated:
			field(&b, "Content-Description", desc+" headers")
			field(&b, "Content-Type", "text/rfc822-headers")
		case intl:
			field(&b, "Content-Description", desc)
			field(&b, "Content-Type", "message/global")
		default:
			field(&b, "Content-Description", desc)
			field(&b, "Content-Type", "message/rfc822")
		}
		if !ascii(string(original)) {
			field(&b, "Content-Transfer-Encoding", "8bit")
		}
		b.WriteString("\r\n")
		b.Write(original)
		if !bytes.HasSuffix(original, []byte("\n")) {
			b.WriteString("\r\n")
		}
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes(), nil
}

// expired reports whether r failed because its time in the queue ran
// out (X.4.7, RFC 3463 §3.5) after temporary failures, rather than on a
// permanent reply whose own code is X.4.7. The last of those failures may
// be a 5xx that deferred it (a server's 554 greeting, a 552 to RCPT).
func expired(r Recipient) bool {
	if r.Action != Failed || !strings.HasSuffix(statusOf(r), ".4.7") {
		return false
	}
	m := enhancedCode.FindStringSubmatch(r.Diagnostic)
	return !strings.HasPrefix(r.Diagnostic, "5") || m == nil || m[1] != "5" || m[2] != "4" || m[3] != "7"
}

// anyFailed reports whether a report tells of a failure.
func anyFailed(rcpts []Recipient) bool {
	for _, r := range rcpts {
		if r.Action == Failed {
			return true
		}
	}
	return false
}

// clean returns rcpts with every invalid UTF-8 sequence in their text
// made "?". A remote server's reply may be in any charset, yet the
// notification part is declared charset=utf-8 and RFC 6533 §6 has the
// fields of message/global-delivery-status in UTF-8; Postfix likewise
// replaces what it cannot print in a server's reply.
func clean(rcpts []Recipient) []Recipient {
	out := make([]Recipient, len(rcpts))
	for i, r := range rcpts {
		r.Addr = strings.ToValidUTF8(r.Addr, "?")
		r.ORcpt = strings.ToValidUTF8(r.ORcpt, "?")
		r.Diagnostic = breakWords(strings.ToValidUTF8(r.Diagnostic, "?"))
		r.RemoteMTA = strings.ToValidUTF8(r.RemoteMTA, "?")
		out[i] = r
	}
	return out
}

// maxWord is the longest run without a space kept in a diagnostic: a
// field can be folded only at white space, and RFC 5322 §2.1.1 allows
// no line over 998 characters.
const maxWord = 900

// breakWords puts a space into every run of more than maxWord bytes
// without one, at a UTF-8 character boundary. A server's reply has no
// length limit once its lines are joined, and a report with an overlong
// line may itself be refused.
func breakWords(s string) string {
	var b strings.Builder
	run := 0
	for _, c := range s {
		if c == ' ' || c == '\t' {
			run = 0
		} else if run += utf8.RuneLen(c); run > maxWord {
			b.WriteByte(' ')
			run = utf8.RuneLen(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}

// wrap breaks line at spaces into lines of at most 78 characters where
// it can (RFC 5322 §2.1.1), the later ones starting with indent.
func wrap(line, indent string) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Split(line, " ") {
		switch {
		case i == 0:
		case n+1+len(word) > 78 && n > len(indent) && strings.TrimSpace(word) != "":
			b.WriteString("\r\n" + indent)
			n = len(indent)
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// Received is the trace field at the top of a message Sluice generates
// itself, as Postfix writes on its bounces: RFC 5321 §4.4 asks every SMTP
// server that originates a message for one, and a message that no client
// sent has no "from" or "with" clause to give, only "by" and "id". It is
// folded before the date, as the listener's Received field is:
//
//	Received: by HOST (Sluice) id ID;
//		DATE
//
// id is left out when empty.
func Received(host, id string, date time.Time) string { return ReceivedNote(host, "", id, date) }

// ReceivedNote is Received with note in the comment after Sluice's name,
// where Postfix's pickup names the local user who submitted the message
// ("by HOST (Postfix, from userid 1000)"): a comment, as the origin is no
// host for a "from" clause. note is written as comment text (RFC 5322
// §3.2.2: parentheses and backslashes quoted, what is not printable ASCII
// as '?'); "" writes none.
func ReceivedNote(host, note, id string, date time.Time) string {
	var b strings.Builder
	b.WriteString("Received: by ")
	b.WriteString(oneLine(host))
	b.WriteString(" (Sluice")
	if note != "" {
		b.WriteString(", ")
		for _, r := range note {
			switch {
			case r == '(' || r == ')' || r == '\\':
				b.WriteByte('\\')
				b.WriteRune(r)
			case r < ' ' || r > '~':
				b.WriteByte('?')
			default:
				b.WriteRune(r)
			}
		}
	}
	b.WriteString(")")
	if id != "" {
		b.WriteString(" id ")
		b.WriteString(oneLine(id))
	}
	b.WriteString(";\r\n\t")
	b.WriteString(date.Format(time.RFC1123Z)) // RFC 5322 §3.3 date-time
	b.WriteString("\r\n")
	return b.String()
}

// worstAction is the worst thing a report tells: Failed, Delayed, else
// Delivered.
func worstAction(rcpts []Recipient) Action {
	worst := Delivered
	for _, r := range rcpts {
		switch {
		case r.Action == Failed:
			worst = Failed
		case r.Action == Delayed && worst != Failed:
			worst = Delayed
		}
	}
	return worst
}

// subject names the worst thing the report tells.
func subject(rcpts []Recipient) string {
	switch worstAction(rcpts) {
	case Failed:
		return "Undelivered Mail Returned to Sender"
	case Delayed:
		return "Delayed Mail (still being retried)"
	}
	return "Successful Mail Delivery Report"
}

// humanText is the first part, for the sender to read. A template's
// text (tpl not nil) stands for the opening line and for the intro of
// the groups of its kind (each group's list of recipients follows it,
// without its intro); a group of another kind in the same report (a
// delay beside failures) keeps its built-in intro.
func humanText(opt Options, headersOnly, truncated bool, tpl *Template) string {
	var b strings.Builder
	if tpl != nil {
		b.WriteString(tpl.expandText(values{host: opt.Hostname, delayWarning: opt.DelayWarning, maxAge: opt.MaxAge}))
	} else {
		fmt.Fprintf(&b, "This is the mail system at host %s.\r\n", opt.Hostname)
	}
	worst := worstAction(opt.Rcpts)
	groups := []struct {
		action Action
		intro  string
	}{
		{Failed, "Your message could not be delivered to the following recipients.\r\nThis is a permanent error; it will not be retried."},
		{Delayed, "Your message could not be delivered yet to the following recipients.\r\nThe mail system keeps trying; you do not need to send it again."},
		{Delivered, "Your message was delivered to the following recipients, as you asked."},
		{Relayed, "Your message was relayed to the following recipients, as you asked.\r\nThe next server does not send delivery notifications, so no further\r\nnotification will come from there."},
		{Expanded, "Your message was delivered to the following recipients, which were\r\nexpanded into further addresses."},
	}
	for _, g := range groups {
		var lines []string
		for _, r := range opt.Rcpts {
			if r.Action != g.action {
				continue
			}
			line := "    <" + oneLine(r.Addr) + ">"
			diag := oneLine(r.Diagnostic)
			if expired(r) {
				// The diagnostic is the last temporary failure; alone
				// under "a permanent error" it would puzzle.
				if diag == "" {
					diag = "delivery time expired"
				} else {
					diag = "delivery time expired; last attempt: " + diag
				}
			}
			if diag != "" {
				line = wrap(line+": "+diag, "      ")
			}
			if r.Action == Delayed && !r.WillRetryUntil.IsZero() {
				line += "\r\n      (retried until " + r.WillRetryUntil.Format(time.RFC1123Z) + ")"
			}
			lines = append(lines, line)
		}
		switch {
		case len(lines) == 0:
		case tpl != nil && worstAction([]Recipient{{Action: g.action}}) == worst: // the template's kind
			b.WriteString("\r\n" + strings.Join(lines, "\r\n") + "\r\n")
		default:
			b.WriteString("\r\n" + g.intro + "\r\n\r\n" + strings.Join(lines, "\r\n") + "\r\n")
		}
	}
	switch {
	case opt.Redact:
		b.WriteString("\r\nYour message was sent with REQUIRETLS: none of it is attached.\r\n")
	case truncated:
		b.WriteString("\r\nThe message was too large to return whole; its header is attached.\r\n")
	case headersOnly:
		b.WriteString("\r\nThe header of your message is attached.\r\n")
	case len(opt.Original) > 0:
		b.WriteString("\r\nYour message is attached.\r\n")
	}
	return b.String()
}

// deliveryStatus is the message/delivery-status body: the per-message
// fields, then one block per recipient, blocks separated by blank lines
// (RFC 3464 §2.1).
func deliveryStatus(opt Options) string {
	var b bytes.Buffer
	field(&b, "Reporting-MTA", "dns; "+opt.Hostname)
	if opt.EnvID != "" {
		field(&b, "Original-Envelope-Id", opt.EnvID)
	}
	if !opt.Arrival.IsZero() {
		field(&b, "Arrival-Date", opt.Arrival.Format(time.RFC1123Z))
	}
	for _, r := range opt.Rcpts {
		b.WriteString("\r\n")
		field(&b, "Final-Recipient", addressType(r.Addr)+"; "+r.Addr)
		if r.ORcpt != "" {
			typ, addr, ok := strings.Cut(r.ORcpt, ";")
			if !ok {
				typ, addr = addressType(r.ORcpt), r.ORcpt
			}
			field(&b, "Original-Recipient", strings.TrimSpace(typ)+"; "+strings.TrimSpace(addr))
		}
		field(&b, "Action", string(r.Action))
		field(&b, "Status", statusOf(r))
		if r.RemoteMTA != "" {
			field(&b, "Remote-MTA", "dns; "+r.RemoteMTA)
		}
		if r.Diagnostic != "" {
			// RFC 3464 §2.3.6: "smtp" for a reply a server sent us; a
			// reason of our own (no server reached, a stage's refusal, an
			// administrator's bounce) is Sluice's, as Postfix writes
			// "X-Postfix".
			typ := "X-Sluice"
			if r.RemoteMTA != "" {
				typ = "smtp"
			}
			field(&b, "Diagnostic-Code", typ+"; "+r.Diagnostic)
		}
		if !r.LastAttempt.IsZero() {
			field(&b, "Last-Attempt-Date", r.LastAttempt.Format(time.RFC1123Z))
		}
		if r.Action == Delayed && !r.WillRetryUntil.IsZero() {
			field(&b, "Will-Retry-Until", r.WillRetryUntil.Format(time.RFC1123Z))
		}
	}
	return b.String()
}

// addressType is "rfc822", or "utf-8" for an internationalized address
// (RFC 6533 §3).
func addressType(addr string) string {
	if ascii(addr) {
		return "rfc822"
	}
	return "utf-8"
}

var enhancedCode = regexp.MustCompile(`^[2-5][0-9][0-9][ -]([245])\.([0-9]{1,3})\.([0-9]{1,3})(?:\s|$)`)

// statusOf is r.Status, or the enhanced code of its diagnostic (RFC 3463)
// in the class its action implies, or that class's X.0.0.
func statusOf(r Recipient) string {
	if r.Status != "" {
		return r.Status
	}
	class := "2"
	switch r.Action {
	case Failed:
		class = "5"
	case Delayed:
		class = "4"
	}
	if m := enhancedCode.FindStringSubmatch(r.Diagnostic); m != nil {
		return class + "." + m[2] + "." + m[3]
	}
	return class + ".0.0"
}

// header returns the header section of msg, up to and including the
// blank line that ends it; all of msg when it has no body.
func header(msg []byte) []byte {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+4]
	}
	if i := bytes.Index(msg, []byte("\n\n")); i >= 0 {
		return msg[:i+2]
	}
	return msg
}

// capLines returns msg cut after its last line end within max bytes
// when it is longer (max > 0). MaxReturn bounds the returned header too:
// a message whose header section is huge, or that has no empty line to
// end it (all of it is then header), must not come back whole, as
// Postfix's bounce_size_limit bounds whatever it returns.
func capLines(msg []byte, max int) []byte {
	if max <= 0 || len(msg) <= max {
		return msg
	}
	if i := bytes.LastIndexByte(msg[:max], '\n'); i >= 0 {
		return msg[:i+1]
	}
	return nil
}

// originalID is the original's Message-ID, for threading the report.
func originalID(msg []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(header(msg)))
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(m.Header.Get("Message-Id"))
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") || !ascii(id) || strings.ContainsAny(id, " \t\r\n") {
		return ""
	}
	return id
}

// field writes one header field, folded at spaces to keep lines under 78
// characters where it can (RFC 5322 §2.2.3). CR and LF in value are made
// spaces: nothing from a remote server may start a field of its own.
func field(b *bytes.Buffer, name, value string) {
	value = oneLine(value)
	line := name + ":"
	for _, word := range strings.SplitAfter(value, " ") {
		if word == "" {
			continue
		}
		if len(line)+1+len(word) > 78 && len(line) > len(name)+1 {
			b.WriteString(strings.TrimRight(line, " ") + "\r\n")
			line = "\t" + word
			continue
		}
		if line == name+":" {
			line += " "
		}
		line += word
	}
	b.WriteString(strings.TrimRight(line, " ") + "\r\n")
}

func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' || r == 0 }), " ")
}

func encoding(s string) string {
	if ascii(s) {
		return "7bit"
	}
	return "8bit"
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// newBoundary returns a MIME boundary that does not occur in body.
func newBoundary(body []byte) string {
	for {
		b := "=_sluice_" + randomHex(12)
		if !bytes.Contains(body, []byte(b)) {
			return b
		}
	}
}

func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}
