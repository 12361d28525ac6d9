package route

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// srsReport is a report as the core makes one for rcpt, To field and all.
func srsReport(rcpt string) []byte {
	return []byte("From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\nTo: <" + rcpt + ">\r\nSubject: report\r\n\r\nx\r\n")
}

// bounced runs the bounce hook over a report to rcpts and returns the
// envelope and header it leaves and the verdict.
func bounced(t *testing.T, h *sdktest.Harness, rcpts ...string) (sdk.Envelope, *sdk.Message, sdk.Verdict) {
	t.Helper()
	txn := sdktest.NewTxn("", rcpts...)
	raw := srsReport(rcpts[0])
	v := h.Bounce(txn, raw)
	sdktest.ApplyEnvelope(&txn.Envelope, v.Edits)
	m, err := sdktest.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	sdktest.ApplyEdits(m, v.Edits)
	return txn.Envelope, m, v
}

// TestSRSReportsGoToTheSender: a report Sluice makes for mail it
// forwarded, to the SRS sender of that mail, is readdressed to the
// sender it stands for (an SRS1 address to the first forwarder's SRS0),
// To field too, and routed as that address, where it used to take the
// default route: by MX back to this host, the domain's MX, and dropped
// (554 5.4.6). Another recipient is routed as before; a queued report is
// not rerouted at delivery by the SRS domain's rule.
func TestSRSReportsGoToTheSender(t *testing.T) {
	h := srsHarness(t, refTime, "")
	for _, tc := range []struct{ rcpt, want, route string }{
		{"SRS0=2j0N=G3=origin.test=alice@example.org", "alice@origin.test", "smtp:relay.example.org:25"},
		// A relay may have lowercased it.
		{"srs0=2j0n=g3=origin.test=alice@EXAMPLE.org", "alice@origin.test", "smtp:relay.example.org:25"},
		// The sender is at a local domain: its mailbox server.
		{"SRS0=" + srsHashOf("s3cret", "G3", "example.net", "carol") + "=G3=example.net=carol@example.org", "carol@example.net", "lmtp:tcp:127.0.0.1:24"},
		{"SRS1=0oRr=fwd1.test==abcd=XY=first.test=carol@example.org", "SRS0=abcd=XY=first.test=carol@fwd1.test", "smtp:relay.example.org:25"},
	} {
		env, m, v := bounced(t, h, tc.rcpt)
		if v.Action != sdk.ActionContinue || len(env.Rcpts) != 1 || env.Rcpts[0].Addr != tc.want || env.Rcpts[0].Route != tc.route {
			t.Errorf("report to %s: %v %+v (%s), want to %s via %s", tc.rcpt, v.Action, env.Rcpts, v.Reason, tc.want, tc.route)
		}
		if got := m.Get("To"); got != "<"+tc.want+">" {
			t.Errorf("report to %s: To %q", tc.rcpt, got)
		}
		if !strings.Contains(v.Reason, "route: SRS: report to <"+tc.rcpt+"> goes to <"+tc.want+">") {
			t.Errorf("reason %q", v.Reason)
		}
	}
	env, m, v := bounced(t, h, "bob@example.org")
	if len(env.Rcpts) != 1 || env.Rcpts[0].Addr != "bob@example.org" || env.Rcpts[0].Route != "lmtp:tcp:127.0.0.1:24" || m.Get("To") != "<bob@example.org>" {
		t.Errorf("report to bob: %+v, To %q (%v)", env.Rcpts, m.Get("To"), v.Edits)
	}
	const rcpt = "SRS0=2j0N=G3=origin.test=alice@example.org"
	if v := h.Deliver(sdktest.NewTxn("", rcpt), sdk.Recipient{Addr: rcpt}); len(v.Edits) != 0 {
		t.Errorf("deliver: %v", v.Edits)
	}
}

// TestSRSReportToInvalidAddressDropped: a report to an SRS address of
// ours that does not check out (forged: a client's MAIL FROM, expired)
// is dropped, the reason saying why, as Postfix's bounce to it would
// bounce to no one; it used to go out to the SRS address.
func TestSRSReportToInvalidAddressDropped(t *testing.T) {
	for name, tc := range map[string]struct {
		at   time.Time
		rcpt string
		err  string
	}{
		"forged":  {refTime, "SRS0=LBlU=G3=origin.test=dave@example.org", "its hash does not match"},
		"expired": {refTime.Add(22 * 24 * time.Hour), "SRS0=2j0N=G3=origin.test=alice@example.org", "its time stamp is too old"},
	} {
		h := srsHarness(t, tc.at, "")
		_, _, v := bounced(t, h, tc.rcpt)
		if v.Action != sdk.ActionReject || !strings.Contains(v.Reply.Text, tc.err) || !strings.Contains(v.Reason, tc.rcpt) {
			t.Errorf("%s: %v %+v (%s), want the report dropped: %s", name, v.Action, v.Reply, v.Reason, tc.err)
		}
	}
}
