package route

import (
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestBounceSender: the bounce hook routes plugin mail by the sender the
// plugin gave, as the data hook routes mail from that sender, where it
// took every message for one from <>; a report from <> is routed as
// before. The sender is matched as queued, not as sender_canonical would
// rewrite it (the hook cannot), so the deliver hook keeps the route.
func TestBounceSender(t *testing.T) {
	h := sdktest.New(t, &Plugin{}, `{
  "detail_separator": "+",
  "sender_canonical": {"@host.brand-a.example": "@brand-a.example"},
  "aliases": {"@example.org": ["catchall@example.org"]},
  "rules": [
    {"match": "*", "sender": "brand-a.example", "transport": "smtp:esp-a.test:587"},
    {"match": "example.org", "sender": "ops.example", "recipients": ["alice"], "transport": "lmtp:tcp:127.0.0.1:24"},
    {"match": "*", "sender": "<>", "transport": "smtp:bounces.test:25"},
    {"match": "*", "transport": "smtp:default.test:25"}
  ]}`)
	raw := []byte("From: <x@example.org>\r\nSubject: x\r\n\r\nx\r\n")
	for _, tc := range []struct {
		from, rcpt, to, route string
	}{
		{"notices@brand-a.example", "x@anywhere.test", "x@anywhere.test", "smtp:esp-a.test:587"},
		{"notices+daily@brand-a.example", "x@anywhere.test", "x@anywhere.test", "smtp:esp-a.test:587"},
		{"", "x@anywhere.test", "x@anywhere.test", "smtp:bounces.test:25"},
		{"notices@other.example", "x@anywhere.test", "x@anywhere.test", "smtp:default.test:25"},
		{"notices@host.brand-a.example", "x@anywhere.test", "x@anywhere.test", "smtp:default.test:25"},
		// alice is a listed user of the ops.example rule: its mail to her
		// is hers, the catch-all's for anyone else.
		{"cron@ops.example", "alice@example.org", "alice@example.org", "lmtp:tcp:127.0.0.1:24"},
		{"", "alice@example.org", "catchall@example.org", "smtp:bounces.test:25"},
	} {
		txn := sdktest.NewTxn(tc.from, tc.rcpt)
		v := h.Bounce(txn, raw)
		sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
		if len(txn.Envelope.Rcpts) != 1 || txn.Envelope.Rcpts[0].Addr != tc.to || routeOf(v, tc.to) != tc.route {
			t.Errorf("<%s> to %s: %v route %q, want <%s> route %q (%s)", tc.from, tc.rcpt, txn.Envelope.Rcpts, routeOf(v, tc.to), tc.to, tc.route, v.Reason)
			continue
		}
		if tc.from == "" {
			continue
		}
		// Mail from the sender at DATA goes the same way.
		d := h.Data(sdktest.NewTxn(tc.from, tc.rcpt), raw)
		if got := routeOf(d, tc.to); tc.from != "notices@host.brand-a.example" && got != tc.route {
			t.Errorf("<%s> to %s at DATA: route %q, want %q as at bounce (%s)", tc.from, tc.rcpt, got, tc.route, d.Reason)
		}
		// The deliver hook, matching the sender as queued, keeps it.
		dv := h.Deliver(sdktest.NewTxn(tc.from), sdk.Recipient{Addr: tc.to, Route: tc.route})
		if dv.Action != sdk.ActionContinue || len(dv.Edits) != 0 {
			t.Errorf("<%s> to %s by %s: the deliver hook says %v %v (%s)", tc.from, tc.to, tc.route, dv.Action, dv.Edits, dv.Reason)
		}
	}
}
