package filter

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestNetworksCondition: a helo rule (Haraka's helo.checks) refuses a
// dotless name, and a pass rule on networks first spares the site's own
// hosts, which a match on the HELO name alone could not tell apart.
func TestNetworksCondition(t *testing.T) {
	h := serve(t, nil, `{"rules":[
		{"name":"own-hosts","hook":"helo","networks":["10.0.0.0/8","2001:db8::/32"],"action":"pass"},
		{"name":"dotless","hook":"helo","match":"^[^.\\[]*$","action":"reject"},
		{"name":"deny-net","hook":"connect","networks":["192.0.2.0/24"],"action":"reject"}
	]}`)
	helo := func(ip, name string) sdk.Verdict {
		return h.Helo(txnFrom(ip, ""), name)
	}
	wantAction(t, "stranger, dotless", helo("198.51.100.1", "localhost"), sdk.ActionReject)
	wantAction(t, "stranger, literal", helo("198.51.100.1", "[198.51.100.1]"), sdk.ActionContinue)
	wantAction(t, "own host, dotless", helo("10.1.2.3", "localhost"), sdk.ActionContinue)
	wantAction(t, "own IPv6 host, dotless", helo("2001:db8::5", "build"), sdk.ActionContinue)
	wantAction(t, "mapped own host", helo("::ffff:10.1.2.3", "localhost"), sdk.ActionContinue)
	v := h.Connect(txnFrom("192.0.2.9", "").Session)
	wantAction(t, "denied network", v, sdk.ActionReject)
	wantReply(t, v, 554, "5.7.1", "Message refused by policy")
	wantAction(t, "other network", h.Connect(txnFrom("192.0.3.9", "").Session), sdk.ActionContinue)
}

func TestNetworksConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"bad network", `{"rules":[{"hook":"connect","networks":["10.0.0.0/33"],"action":"reject"}]}`, "networks"},
		{"empty", `{"rules":[{"hook":"mail","match":"x","networks":[],"action":"reject"}]}`, "networks is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sdktest.Start(t, &Plugin{}, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
