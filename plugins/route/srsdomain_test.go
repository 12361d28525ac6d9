package route

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestSRSDomainOfItsOwn: with an SRS domain of its own, a reject rule
// for it refuses its other addresses (which no mailbox server has), and
// leaves its SRS addresses to be reversed, at RCPT and DATA, and reports
// to them unrouted, as README's recipe has it.
func TestSRSDomainOfItsOwn(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org,srs.example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{
	  "srs": {"domain": "srs.example.org", "secrets": ["s3cret"]},
	  "rules": [{"match": "srs.example.org", "transport": "reject"},
	            {"match": "*", "transport": "smtp:[relay.example.org]:25"}]}`)
	srs := "SRS0=2j0N=G3=origin.test=alice@srs.example.org"
	if v := h.Rcpt(sdktest.NewTxn(""), "random@srs.example.org"); v.Action != sdk.ActionReject {
		t.Errorf("random@: %v, want refused", v.Action)
	}
	if v := h.Rcpt(sdktest.NewTxn(""), srs); v.Action != sdk.ActionContinue {
		t.Errorf("%s: %v %s", srs, v.Action, v.Reason)
	}
	env, v := dataEnvelope(t, h, "", srs)
	if got := rcptAddrs(env); len(got) != 1 || got[0] != "alice@origin.test" || env.Rcpts[0].Route != "smtp:relay.example.org:25" {
		t.Errorf("DATA: %+v (%s)", env.Rcpts, v.Reason)
	}
	if v := h.Bounce(sdktest.NewTxn("", srs), []byte("Subject: report\r\n\r\nx\r\n")); v.Action != sdk.ActionContinue || strings.Contains(routeOf(v, srs), "reject") {
		t.Errorf("report: %v %v", v.Action, v.Edits)
	}
	if v := h.Deliver(sdktest.NewTxn("", srs), sdk.Recipient{Addr: srs}); v.Action != sdk.ActionContinue {
		t.Errorf("deliver: %v %v", v.Action, v.Reason)
	}
}
