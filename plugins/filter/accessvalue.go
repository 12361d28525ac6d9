package filter

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/pfaccess"
	"github.com/sluice-mta/sluice/sdk"
)

// accessVerb is what an access(5) table's value asks for: its first word,
// or a reply code.
type accessVerb int

const (
	verbOK accessVerb = iota // OK, RELAY, an all-numerical value
	verbDunno
	verbReject // REJECT, DEFER and 4NN/5NN text: a reply
	verbDeferIfReject
	verbDeferIfPermit
	verbDiscard
	verbHold
	verbRedirect
	verbBcc
	verbPrepend
	verbWarn // WARN and INFO
)

// accessValue is a table value read: its verb and what goes with it.
type accessValue struct {
	verb accessVerb
	// code and dsn are a refusal's reply code and enhanced status, the
	// default one unless the text began with its own; text is the text
	// after them, "" for Postfix's default.
	code int
	dsn  string
	text string
	addr string        // REDIRECT and BCC
	hdr  sdk.AddHeader // PREPEND
}

// Postfix's defaults for access tables (postconf(5)):
// access_map_reject_code and access_map_defer_code.
const (
	accessRejectCode = pfaccess.RejectCode
	accessDeferCode  = pfaccess.DeferCode
)

// parseAccessValue reads a value as Postfix's smtpd does (access(5),
// check_table_result): the first word, without case, is the action, and
// the rest its text. What Sluice cannot do (FILTER, a restriction, a
// restriction class, a lookup table) is an error: the table is read at
// start, where an error stops Sluice, and a rule meaning less than it
// says would let mail through.
func parseAccessValue(v string) (accessValue, error) {
	word, text := pfaccess.SplitWord(v)
	up := strings.ToUpper(word)
	var a accessValue
	switch up {
	case "OK", "RELAY":
		a.verb = verbOK // the text is ignored, as Postfix ignores it
		return a, nil
	case "DUNNO":
		a.verb = verbDunno
		return a, nil
	case "REJECT":
		a.verb, a.code = verbReject, accessRejectCode
		a.dsn, a.text = splitDSN("5.7.1", text)
		return a, nil
	case "DEFER":
		a.verb, a.code = verbReject, accessDeferCode
		a.dsn, a.text = splitDSN("4.7.1", text)
		return a, nil
	case "DEFER_IF_REJECT", "DEFER_IF_PERMIT":
		a.verb, a.code = verbDeferIfReject, accessDeferCode
		if up == "DEFER_IF_PERMIT" {
			a.verb = verbDeferIfPermit
		}
		a.dsn, a.text = splitDSN("4.7.1", text)
		return a, nil
	case "DISCARD":
		a.verb, a.text = verbDiscard, text
		return a, nil
	case "HOLD":
		a.verb, a.text = verbHold, text
		return a, nil
	case "WARN", "INFO":
		a.verb, a.text = verbWarn, text
		return a, nil
	case "REDIRECT", "BCC":
		a.verb, a.addr = verbRedirect, text
		if up == "BCC" {
			a.verb = verbBcc
		}
		if text == "" || !strings.Contains(text, "@") {
			return a, fmt.Errorf("%s needs user@domain", up)
		}
		if err := envelope.MailboxError(text); err != nil {
			return a, fmt.Errorf("%s %q: %v", up, text, err)
		}
		return a, nil
	case "PREPEND":
		a.verb = verbPrepend
		name, value, ok := strings.Cut(text, ":")
		if !ok || sdk.CheckFieldName(name) != nil {
			return a, fmt.Errorf("PREPEND needs \"Name: value\", a field name of printable ASCII without a colon (RFC 5322 section 3.6.8), got %q", text)
		}
		a.hdr = sdk.AddHeader{Name: name, Value: strings.TrimLeft(value, " \t")}
		return a, prependError(a.hdr)
	case "FILTER":
		return a, fmt.Errorf("FILTER (a content filter transport) has no counterpart in the filter stage: use a milter stage or a route rule")
	case "HANGUP", "DELAY", "SNAPSHOT":
		return a, fmt.Errorf("%s is not supported", up)
	}
	if pfaccess.AllDigits(v) {
		// An all-numerical value is OK: pop-before-smtp schemes write a
		// time stamp.
		a.verb = verbOK
		return a, nil
	}
	if len(word) == 3 && pfaccess.AllDigits(word) && (word[0] == '4' || word[0] == '5') && text != "" {
		a.verb = verbReject
		a.code, _ = strconv.Atoi(word)
		a.dsn, a.text = splitDSN(word[:1]+".7.1", text)
		return a, nil
	}
	if strings.Contains(v, ":") {
		return a, fmt.Errorf("%q names a lookup table, which Postfix does not allow in an access table either", v)
	}
	return a, fmt.Errorf("%q is not an access(5) action; a Postfix restriction (permit_mynetworks, reject_unauth_destination, ...) or a restriction class cannot be evaluated by the filter: write it as filter rules", v)
}

// prependError says why the core would not add f, or the message would
// break a line limit with it: the add_header action's checks (one line,
// no NUL, which a CR in the middle of a table line or a $n substitution
// could bring), and the field on its one line within 998 characters,
// since nothing folds it.
func prependError(f sdk.AddHeader) error {
	if err := pfaccess.FieldLineError(f.Name, f.Value); err != nil {
		return fmt.Errorf("PREPEND %s: %v", f.Name, err)
	}
	return nil
}

// splitDSN takes an enhanced status code (RFC 3463 §2) off the front of
// text, as Postfix's dsn_split does: def when there is none.
func splitDSN(def, text string) (dsn, rest string) {
	word, after := pfaccess.SplitWord(text)
	if word == "" || !strings.ContainsRune("245", rune(word[0])) {
		return def, text
	}
	if _, ok := sdk.ParseEnhanced(word, int(word[0]-'0')); !ok {
		return def, text
	}
	return word, after
}

// fixDSN is Postfix's smtpd_dsn_fix: an address status (X.1.Y) is made
// one that fits what is refused, since one table may serve senders and
// recipients, or a HELO name: X.1.1 refusing a sender is X.1.7, and a
// client or HELO name gets the neutral X.0.0. The class is the reply
// code's (Postfix turns a hard reject soft late, and the status follows).
func fixDSN(dsn string, class string, code int) string {
	return strconv.Itoa(code/100) + pfaccess.FixDSN(dsn, class)[1:]
}

// What an access rule refuses, as Postfix's replies name it.
const (
	classClient    = pfaccess.ClassClient
	classHelo      = pfaccess.ClassHelo
	classSender    = pfaccess.ClassSender
	classRecipient = pfaccess.ClassRecipient
)

// accessReply is the reply of a refusing value, Postfix's
// "554 5.7.1 <bob@spam.example>: Sender address rejected: Access denied":
// name is what was refused (the client's name[address], the HELO name,
// the address; "" for the null sender) and class what it is.
func accessReply(a accessValue, name, class string) sdk.Reply {
	text := a.text
	if text == "" {
		text = "Access denied"
		if a.verb == verbDeferIfReject || a.verb == verbDeferIfPermit {
			text = "Service unavailable"
		}
	}
	return sdk.Reply{Code: a.code, Enhanced: fixDSN(a.dsn, class, a.code),
		Text: printableASCII(fmt.Sprintf("<%s>: %s rejected: %s", name, class, text))}
}

// printableASCII replaces what may not go in an SMTP reply (a control
// character, 8-bit text) with '?', as Postfix's printable() does.
func printableASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return '?'
		}
		return r
	}, s)
}
