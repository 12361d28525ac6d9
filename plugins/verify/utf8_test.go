package verify

import (
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/sdk"
)

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// A recipient in UTF-8 (the client's MAIL declared SMTPUTF8) is asked
// about as delivery would send it: with SMTPUTF8 to a next hop that
// offers it, its Unicode domain as A-labels to one that does not, and a
// UTF-8 local part not at all to one that does (delivery would return
// the mail 553 5.6.7). Asked raw, without SMTPUTF8, Postfix answers 553
// 5.6.7 and a deliverable recipient was refused.
func TestSMTPUTF8Recipient(t *testing.T) {
	withUTF8 := newHopWith(t, func(s *smtp.Server) { s.EnableSMTPUTF8 = true }, "jörg@example.org")
	h := serve(t, &Plugin{}, hopConfig(withUTF8, `, "reject_code": 550`), "")
	wantVerdict(t, "UTF-8 local part, next hop with SMTPUTF8", h.Rcpt(txn, "jörg@example.org"), sdk.ActionContinue, 0, "")
	wantAsked(t, withUTF8, "jörg@example.org")

	without := newHop(t, false, nil, "alice@xn--bcher-kva.example")
	h = serve(t, &Plugin{}, hopConfig(without, `, "reject_code": 550`), "")
	wantVerdict(t, "Unicode domain, next hop without SMTPUTF8", h.Rcpt(txn, "alice@bücher.example"), sdk.ActionContinue, 0, "")
	v := h.Rcpt(txn, "jörg@example.org")
	wantVerdict(t, "UTF-8 local part, next hop without SMTPUTF8", v, sdk.ActionReject, 550, "5.1.1")
	if want := "553 5.6.7"; !strings.Contains(v.Reason, want) {
		t.Errorf("UTF-8 local part, next hop without SMTPUTF8: reason %q, want %q", v.Reason, want)
	}
	wantAsked(t, without, "alice@xn--bcher-kva.example")
}
