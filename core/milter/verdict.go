package milter

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	milter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/sdk"
)

var errBadReply = errors.New("malformed SMFIR_REPLYCODE")

func errUnexpected(code byte) error { return fmt.Errorf("unexpected milter answer %q", code) }

// Replies for the answers that carry no text, worded as Postfix words them
// (milter8.c): SMFIR_REJECT and SMFIR_TEMPFAIL.
const (
	rejectText   = "Command rejected"
	tempfailText = "Service unavailable - try again later"
)

// enhancedRE matches an RFC 3463 enhanced status code at the start of a
// reply text.
var enhancedRE = regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})(?: |$)`)

// actionVerdict maps a milter's answer to a verdict (milter protocol,
// "Responses"): SMFIR_ACCEPT (which conn.verdict turns into "this milter
// is done"), SMFIR_CONTINUE, SMFIR_REJECT (550 5.7.1),
// SMFIR_TEMPFAIL (451 4.7.1), SMFIR_DISCARD and SMFIR_REPLYCODE (the
// milter's own code and text; 4xx tempfails, 5xx rejects). SMFIR_PROGRESS
// never gets here: go-milter's client keeps waiting on it.
func actionVerdict(a *milter.Action) (sdk.Verdict, error) {
	switch a.Code {
	case milter.ActAccept:
		return sdk.Accept(), nil
	case milter.ActContinue:
		return sdk.Continue(), nil
	case milter.ActReject:
		return sdk.Reject(550, "5.7.1", rejectText), nil
	case milter.ActTempFail:
		return sdk.Tempfail(451, "4.7.1", tempfailText), nil
	case milter.ActDiscard:
		return sdk.Discard(""), nil
	case milter.ActReplyCode:
		return replyVerdict(a.SMTPCode, a.SMTPText)
	}
	return sdk.Verdict{}, errUnexpected(byte(a.Code))
}

// replyVerdict maps SMFIR_REPLYCODE. text is what follows "NNN " on the
// first line; a multi-line reply (smfi_setmlreply) has "NNN-" and "NNN "
// prefixes on the lines after it, which are dropped, as is the enhanced
// code repeated on each line. The lines are joined with spaces: a reply
// is one line here.
func replyVerdict(code int, text string) (sdk.Verdict, error) {
	var mk func(int, string, string) sdk.Verdict
	switch code / 100 {
	case 4:
		mk = sdk.Tempfail
	case 5:
		mk = sdk.Reject
	default:
		// Postfix too refuses a reply code outside 4xx/5xx as malformed.
		return sdk.Verdict{}, fmt.Errorf("SMFIR_REPLYCODE %d is not 4xx or 5xx", code)
	}
	prefix := fmt.Sprint(code)
	var enhanced string
	var parts []string
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if i > 0 {
			line = strings.TrimPrefix(line, prefix)
			if line != "" && (line[0] == '-' || line[0] == ' ') {
				line = line[1:]
			}
		}
		if m := enhancedRE.FindStringSubmatch(line); m != nil {
			if enhanced == "" {
				enhanced = m[1]
				if enhanced[0] != prefix[0] {
					// "451 5.7.1": the class is the reply code's (RFC 3463
					// §2); conn.verdict logs the milter's mistake.
					enhanced = prefix[:1] + enhanced[1:]
				}
			}
			line = strings.TrimPrefix(line[len(m[1]):], " ")
		}
		if line != "" {
			parts = append(parts, line)
		}
	}
	return mk(code, enhanced, replyText(strings.Join(parts, " "))), nil
}

// replyText makes an SMFIR_REPLYCODE text fit for the client's reply
// line. libmilter makes a milter double each '%' (smfi_setreply, as
// Sendmail uses the text as a format): Postfix (milter8.c, SMFIR_REPLYCODE)
// drops each '%' and keeps the character after it literally, and so do
// we, so "100%% sure" reads "100% sure". Then every byte outside RFC 5321
// §4.2's textstring (HT, SP and %d33-126) becomes '?', as Postfix's
// printable() censors replies: no terminal escape or stray 8-bit byte
// from a milter reaches the client. The pipeline cuts every stage's reply
// to one 512-octet line (RFC 5321 §4.5.3.1.5), the lines of a multi-line
// reply joined here included.
func replyText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i++; i == len(s) {
				break
			}
			c = s[i]
		}
		if c != '\t' && (c < ' ' || c > '~') {
			c = '?'
		}
		b.WriteByte(c)
	}
	return b.String()
}

// replyClassMismatch returns the enhanced status code of an
// SMFIR_REPLYCODE text when its class differs from the reply code's
// ("451 5.7.1"), and the code used instead; "" when they match or there
// is none.
func replyClassMismatch(code int, text string) (got, used string) {
	m := enhancedRE.FindStringSubmatch(text)
	if m == nil || int(m[1][0]-'0') == code/100 {
		return "", ""
	}
	return m[1], fmt.Sprint(code/100) + m[1][1:]
}

// modEdits turns the modifications a milter sent before its final answer
// to SMFIC_BODYEOB into edits, in order. SMFIR_REPLBODY may come in
// several packets: their data is one body, concatenated, normalised to
// CRLF and placed where the first packet was. addArgs[i] holds the ESMTP
// arguments of the i-th added recipient (SMFIR_ADDRCPT_PAR). A
// SMFIR_QUARANTINE returns its reason.
//
// With SMFIP_HDR_LEADSPC negotiated (leadSpace), a header value carries
// the white space that follows the colon, as the values sent to the
// milter do: Postfix then joins name and value with ":" alone, otherwise
// with ": " (milter8.c, MILTER8_HDR_SPACE). A field Sluice writes is
// always "Name: value", so one leading space of such a value is dropped
// ("Name: value" as the milter meant it); a value without one gets the
// space all the same.
func modEdits(mods []milter.ModifyAction, addArgs [][]string, leadSpace bool) (_ []sdk.Edit, quarantine *string, _ error) {
	var edits []sdk.Edit
	var body []byte
	bodyAt, added := -1, 0
	value := func(v string) string {
		if leadSpace {
			v = strings.TrimPrefix(v, " ")
		}
		return crlf(v)
	}
	for _, m := range mods {
		switch m.Code {
		case milter.ActAddHeader: // SMFIR_ADDHEADER
			edits = append(edits, sdk.AddHeader{Name: m.HeaderName, Value: value(m.HeaderValue)})
		case milter.ActInsertHeader: // SMFIR_INSHEADER: index 0 is the top
			edits = append(edits, sdk.InsertHeader{Index: int(m.HeaderIndex), Name: m.HeaderName, Value: value(m.HeaderValue)})
		case milter.ActChangeHeader: // SMFIR_CHGHEADER: index is the 1-based occurrence; empty value deletes
			occ := max(int(m.HeaderIndex), 1)
			if m.HeaderValue == "" {
				edits = append(edits, sdk.DeleteHeader{Name: m.HeaderName, Occurrence: occ})
			} else {
				edits = append(edits, sdk.ChangeHeader{Name: m.HeaderName, Occurrence: occ, Value: value(m.HeaderValue)})
			}
		case milter.ActChangeFrom: // SMFIR_CHGFROM: sender NUL [arg NUL]...
			edits = append(edits, sdk.SetSender{Addr: unbracket(m.From), Params: parseArgs(m.FromArgs)})
		case milter.ActAddRcpt: // SMFIR_ADDRCPT and SMFIR_ADDRCPT_PAR
			var args []string
			if added < len(addArgs) {
				args = addArgs[added]
			}
			added++
			edits = append(edits, sdk.AddRecipient{Addr: unbracket(m.Rcpt), Params: parseArgs(args)})
		case milter.ActDelRcpt: // SMFIR_DELRCPT
			edits = append(edits, sdk.RemoveRecipient{Addr: unbracket(m.Rcpt)})
		case milter.ActReplBody: // SMFIR_REPLBODY, one chunk
			if bodyAt < 0 {
				bodyAt = len(edits)
				edits = append(edits, nil)
				body = []byte{}
			}
			body = append(body, m.Body...)
		case milter.ActQuarantine: // SMFIR_QUARANTINE
			r := m.Reason
			quarantine = &r
		default:
			return nil, nil, errUnexpected(byte(m.Code))
		}
	}
	if bodyAt >= 0 {
		edits[bodyAt] = sdk.ReplaceBody{Body: []byte(crlf(string(body)))}
	}
	return edits, quarantine, nil
}

// crlf normalises line ends to CRLF: milters fold header values and
// write bodies with bare LF (libmilter and go-milter's server both do,
// since Postfix stores lines without CR), while RFC 5322 §2.2.3 folds
// with CRLF.
func crlf(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n")
}

// unbracket strips the angle brackets milters put around addresses.
func unbracket(a string) string {
	a = strings.TrimSpace(a)
	if strings.HasPrefix(a, "<") && strings.HasSuffix(a, ">") {
		return a[1 : len(a)-1]
	}
	return a
}
