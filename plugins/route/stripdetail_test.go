package route

import (
	"slices"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestStripDetailLocalOnly: strip_detail removes the detail of addresses
// at local_domains only. A relay client's recipient, an alias's target
// and the sender an SRS bounce goes back to (a VERP address) go as they
// are: "jean-pierre@remote.test" is not "jean@remote.test".
func TestStripDetailLocalOnly(t *testing.T) {
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{"detail_separator": "+-", "strip_detail": true,
		"srs": {"domain": "example.org", "secrets": ["s3cret"]},
		"aliases": {"info@example.org": ["bob+info@gmail.test"]},
		"rules": [{"match": "example.org", "transport": "lmtp:tcp:127.0.0.1:24", "recipients": ["alice"]},
		          {"match": "*", "transport": "smtp:[relay.example.org]:25"}]}`)
	verp := "list-bounces+carol=example.net@lists.test"
	srs := (&srsCodec{domain: "example.org", secrets: func() []string { return []string{"s3cret"} }, maxAge: 21, now: func() time.Time { return refTime }}).forward(verp)
	for _, tc := range []struct {
		from, rcpt, want string
	}{
		{"alice@example.org", "jean-pierre@remote.test", "jean-pierre@remote.test"},
		{"alice@example.org", "info@example.org", "bob+info@gmail.test"},
		{"", srs, verp},
		{"x@origin.test", "alice-list@example.org", "alice@example.org"},
	} {
		if v := h.Rcpt(sdktest.NewTxn(tc.from), tc.rcpt); v.Action != sdk.ActionContinue {
			t.Errorf("RCPT %s: %v %s", tc.rcpt, v.Action, v.Reason)
		}
		env, v := dataEnvelope(t, h, tc.from, tc.rcpt)
		if got := rcptAddrs(env); !slices.Equal(got, []string{tc.want}) {
			t.Errorf("%s: recipients %q, want %s (%s)", tc.rcpt, got, tc.want, v.Reason)
		}
	}
}
