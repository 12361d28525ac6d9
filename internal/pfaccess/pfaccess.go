// Package pfaccess is what Postfix's smtpd makes of an access(5) action,
// for the two stages that take such actions: the filter's access tables
// (check_client_access and its kin) and the policy plugin
// (check_policy_service), whose answers Postfix reads with the same
// function, smtpd_check.c's check_table_result. One copy of its tables,
// so that the two do not drift apart.
package pfaccess

import (
	"errors"
	"fmt"
	"strings"
)

// The codes of REJECT and DEFER (and of DEFER_IF_REJECT and
// DEFER_IF_PERMIT): Postfix's access_map_reject_code and
// access_map_defer_code defaults (postconf(5)).
const (
	RejectCode = 554
	DeferCode  = 450
)

// What a refusal names, after what is refused: Postfix's
// "<bob@example.org>: Sender address rejected: Access denied"
// (smtpd_check.c's SMTPD_NAME_*).
const (
	ClassClient    = "Client host"
	ClassHelo      = "Helo command"
	ClassSender    = "Sender address"
	ClassRecipient = "Recipient address"
	ClassData      = "Data command"
	ClassEOD       = "End-of-data"
)

// FixDSN makes an address status (X.1.Y, RFC 3463 §3.2) fit what class
// refuses, as Postfix's smtpd_dsn_fix does, since one table or server
// may answer for senders and recipients alike: a recipient's X.1.1
// refusing a sender is X.1.7 (RFC 3463 has no "bad sender address":
// Postfix takes its syntax's), and any X.1.Y refusing what is no address
// is X.0.0. Another status is returned as it is; dsn is a valid one.
func FixDSN(dsn, class string) string {
	if !strings.HasPrefix(dsn[1:], ".1.") {
		return dsn
	}
	detail := dsn[4:]
	switch class {
	case ClassSender:
		return dsn[:4] + orZero(senderDetail[detail])
	case ClassRecipient:
		return dsn[:4] + orZero(recipientDetail[detail])
	}
	return dsn[:1] + ".0.0"
}

// senderDetail and recipientDetail are Postfix 3's dsn_map: the detail
// of an X.1.Y status refusing a sender or a recipient; another detail is
// X.1.0.
var (
	senderDetail    = map[string]string{"1": "7", "2": "8", "3": "7", "4": "7", "5": "0", "6": "7", "7": "7", "8": "8"}
	recipientDetail = map[string]string{"1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "6", "7": "3", "8": "2"}
)

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// MaxFieldLine is the longest line of a message, CRLF not counted (RFC
// 5322 §2.1.1).
const MaxFieldLine = 998

// FieldLineError says why the header field "name: value" a PREPEND
// action adds would not go into the message as it is: a CR or NUL in the
// value (the core drops such a field, and the trace would say it was
// added), or the field over a line's 998 characters, which nothing
// folds; nil when it would.
func FieldLineError(name, value string) error {
	switch n := len(name) + len(": ") + len(value); {
	case strings.ContainsAny(value, "\r\n\x00"):
		return errors.New("the value must be one line, without CR or NUL")
	case n > MaxFieldLine:
		return fmt.Errorf("the field is %d characters, over a line's %d (RFC 5322 section 2.1.1)", n, MaxFieldLine)
	}
	return nil
}

// SplitWord splits s at its first white space: an action into its word
// and its text, a table line into its key and value.
func SplitWord(s string) (word, rest string) {
	i := strings.IndexAny(s, " \t")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimLeft(s[i:], " \t")
}

// AllDigits reports whether s is a number of ASCII digits: an
// all-numerical action is OK (access(5): some out-of-band authentication
// writes a time stamp).
func AllDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
