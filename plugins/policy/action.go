package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/pfaccess"
	"github.com/sluice-mta/sluice/sdk"
)

// Postfix's access_map_reject_code and access_map_defer_code: the codes
// of REJECT and DEFER, and of DEFER_IF_PERMIT; and reject_code, that of
// the reject restriction.
const (
	mapRejectCode = pfaccess.RejectCode
	mapDeferCode  = pfaccess.DeferCode
	rejectCode    = 554
)

// outcome is what one answer decides: the hook's verdict, and what is
// done to the message at the data hook (Postfix's cleanup acts on the
// PREPEND, REDIRECT and BCC that smtpd's restrictions decided).
type outcome struct {
	verdict  sdk.Verdict
	prepend  []sdk.Header // PREPEND's fields, in order
	redirect string       // REDIRECT's address
	bcc      []string     // BCC's addresses
	// info is a WARN's or INFO's text, logged; warn is logged too: an
	// action not taken, and why.
	info, warn string
}

// decide turns the server's action (access(5)) into an outcome, as
// Postfix's check_table_result does, for request q of t. Words compare
// without case; a text after the word is the reply's, its leading
// RFC 3463 code the enhanced code.
func decide(value string, t *sdk.Txn, q query) outcome {
	word, text := pfaccess.SplitWord(value)
	name, class := replyName(t, q)
	upper := strings.ToUpper(word)
	switch {
	case upper == "DUNNO":
		return outcome{verdict: sdk.Continue()}
	case upper == "REJECT":
		return outcome{verdict: refuse(mapRejectCode, "5.7.1", text, "Access denied", name, class)}
	case upper == "DEFER":
		return outcome{verdict: refuse(mapDeferCode, "4.7.1", text, "Access denied", name, class)}
	case upper == "INFO" || upper == "WARN":
		return outcome{verdict: sdk.Continue(), info: strings.ToLower(word) + ": " + text}
	case upper == "FILTER" || upper == "HANGUP":
		// FILTER names a content filter transport, which Sluice has
		// none of (a stage is its filter); HANGUP is Postfix's test
		// feature, an SMTP session a stage cannot end.
		return outcome{verdict: sdk.Continue(), warn: upper + " is not supported: ignored"}
	case upper == "HOLD":
		// Postfix's hold queue: the message is taken and kept back,
		// for all its recipients.
		return outcome{verdict: sdk.Quarantine(orDefault(text, "triggers HOLD action"))}
	case upper == "DISCARD":
		// Taken and dropped, for all its recipients; Postfix's DISCARD
		// permits too, but here the later stages are still asked.
		return outcome{verdict: sdk.Discard(orDefault(text, "triggers DISCARD action"))}
	case upper == "REDIRECT" || upper == "BCC":
		if err := envelope.MailboxError(text); err != nil || !strings.Contains(text, "@") {
			return outcome{verdict: sdk.Continue(), warn: upper + " requires a user@domain target: ignored"}
		}
		if upper == "REDIRECT" {
			return outcome{verdict: sdk.Continue(), redirect: text}
		}
		return outcome{verdict: sdk.Continue(), bcc: []string{text}}
	case upper == "DEFER_IF_PERMIT":
		// Postfix defers when no later restriction of the list
		// rejects; a stage cannot wait for the later stages' answers,
		// so it defers now and they are not asked.
		return outcome{verdict: refuse(mapDeferCode, "4.7.1", text, "Service unavailable", name, class)}
	case upper == "DEFER_IF_REJECT":
		// Turns a later reject into a deferral, which a stage cannot
		// do to the stages after it: nothing to do now.
		return outcome{verdict: sdk.Continue(), warn: "DEFER_IF_REJECT: a later stage's refusal is not made a deferral"}
	case upper == "PREPEND":
		return prepend(text, q.state)
	case pfaccess.AllDigits(value):
		// Postfix: "some out-of-band authentication mechanism uses
		// this as time stamp": OK.
		return outcome{verdict: sdk.Accept()}
	case len(word) == 3 && text != "" && (word[0] == '4' || word[0] == '5') && pfaccess.AllDigits(word[1:]):
		code, _ := strconv.Atoi(word)
		return outcome{verdict: refuse(code, word[:1]+".7.1", text, "Access denied", name, class)}
	case upper == "OK" || upper == "RELAY":
		return outcome{verdict: sdk.Accept()}
	}
	// Postfix evaluates anything else, an action after white space too,
	// as a list of restrictions.
	return restrictions(value, name, class)
}

// restrictions is the outcome of value taken as a restriction list, as
// Postfix's check_table_result hands it to generic_checks: in order,
// until one decides. Of the restrictions, Sluice knows those that need
// nothing but the list, permit, reject, defer, defer_if_permit and
// defer_if_reject (with the codes and texts of generic_checks); the
// empty list is OK with a warning; any other restriction, when reached,
// is Postfix's server configuration error.
func restrictions(value, name, class string) outcome {
	words := strings.FieldsFunc(value, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
	if len(words) == 0 {
		return outcome{verdict: sdk.Accept(), warn: "an empty action, taken as OK as Postfix does"}
	}
	deferIfReject := false
	for _, w := range words {
		switch strings.ToLower(w) {
		case "permit":
			return outcome{verdict: sdk.Accept()}
		case "reject":
			if deferIfReject {
				// smtpd_check_reject: the reject becomes the deferral.
				return outcome{verdict: refuse(mapDeferCode, "4.7.0", "defer_if_reject requested", "", name, class)}
			}
			return outcome{verdict: refuse(rejectCode, "5.7.1", "Access denied", "", name, class)}
		case "defer":
			return outcome{verdict: refuse(mapDeferCode, "4.3.2", "Try again later", "", name, class)}
		case "defer_if_permit":
			// Deferred now, as the DEFER_IF_PERMIT action is.
			return outcome{verdict: refuse(mapDeferCode, "4.7.0", "defer_if_permit requested", "", name, class)}
		case "defer_if_reject":
			deferIfReject = true
		default:
			return outcome{verdict: serverError(), warn: fmt.Sprintf("unknown action %q (or a restriction Sluice does not evaluate)", value)}
		}
	}
	return outcome{verdict: sdk.Continue()}
}

// prepend is PREPEND's outcome: a header field added at the data hook,
// when text is one ("Name: value") and it comes before the end of the
// message, as Postfix has it.
func prepend(text, state string) outcome {
	if state == stateEOM {
		return outcome{verdict: sdk.Continue(), warn: "PREPEND must be used before END-OF-MESSAGE: ignored"}
	}
	name, value, err := headerField(text)
	if err == nil {
		err = pfaccess.FieldLineError(name, value)
	}
	if err != nil {
		return outcome{verdict: sdk.Continue(), warn: "PREPEND requires header: text: " + err.Error() + ": ignored"}
	}
	return outcome{verdict: sdk.Continue(), prepend: []sdk.Header{{Name: name, Value: value}}}
}

// headerField splits "Name: value" as Postfix's is_header reads a field:
// a name of printable ASCII without a colon (RFC 5322 §3.6.8, the
// core's rule for a field a stage adds), white space allowed before the
// colon.
func headerField(s string) (name, value string, err error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return "", "", errors.New("no colon")
	}
	name = strings.TrimRight(name, " \t")
	if err := sdk.CheckFieldName(name); err != nil {
		return "", "", err
	}
	return name, strings.TrimLeft(value, " \t"), nil
}

// refuse is the refusal of REJECT, DEFER and their kin: code, the text's
// own enhanced code or def, and Postfix's "<name>: Class rejected: text".
func refuse(code int, def, text, defText, name, class string) sdk.Verdict {
	dsn, text := dsnSplit(def, text)
	if text == "" {
		text = defText
	}
	// The class of the enhanced code is the reply's (smtpd_check_reject).
	dsn = strconv.Itoa(code/100) + pfaccess.FixDSN(dsn, class)[1:]
	msg := fmt.Sprintf("<%s>: %s rejected: %s", name, class, text)
	if code >= 500 {
		return sdk.Reject(code, dsn, msg)
	}
	return sdk.Tempfail(code, dsn, msg)
}

// serverError is Postfix's reject_server_error.
func serverError() sdk.Verdict {
	return sdk.Tempfail(451, "4.3.5", "Server configuration error")
}

// replyName is what a refusal names, and its class, at q's state: the
// reply_name and reply_class of Postfix's restriction lists.
func replyName(t *sdk.Txn, q query) (name, class string) {
	switch q.state {
	case stateConnect:
		host := t.Session.ClientName
		if host == "" {
			host = "unknown"
		}
		return host + "[" + t.Session.ClientIP + "]", pfaccess.ClassClient
	case stateHelo:
		return t.Session.Helo, pfaccess.ClassHelo
	case stateMail:
		return t.Envelope.MailFrom, pfaccess.ClassSender
	case stateRcpt:
		return q.rcpt, pfaccess.ClassRecipient
	case stateData:
		return stateData, pfaccess.ClassData
	}
	return stateEOM, pfaccess.ClassEOD
}

// dsnSplit takes an RFC 3463 code off the front of text, as Postfix's
// dsn_split: class 2, 4 or 5, then subject and detail of 1 to 3 digits,
// then white space or the end. Without one, def.
func dsnSplit(def, text string) (dsn, rest string) {
	end := strings.IndexAny(text, " \t")
	if end < 0 {
		end = len(text)
	}
	parts := strings.Split(text[:end], ".")
	if len(parts) != 3 || len(parts[0]) != 1 || !strings.ContainsAny(parts[0], "245") {
		return def, text
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 || !pfaccess.AllDigits(p) {
			return def, text
		}
	}
	return text[:end], strings.TrimLeft(text[end:], " \t")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// checkDefaultAction refuses a default_action that would be Postfix's
// server configuration error itself: a word no action has.
func checkDefaultAction(value string) error {
	o := decide(value, &sdk.Txn{}, query{state: stateRcpt, rcpt: "a@b"})
	if strings.HasPrefix(o.warn, "unknown action") {
		return errors.New("want an access(5) action: DUNNO, OK, REJECT [text], DEFER [text], 4NN text, 5NN text, DEFER_IF_PERMIT [text], HOLD, DISCARD …")
	}
	return nil
}
