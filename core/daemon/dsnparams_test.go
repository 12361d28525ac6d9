package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestAliasTargetsKeepDSNParams: the route plugin expands two aliases; the
// relay receives each target with the NOTIFY and ORCPT the alias passes on
// (RFC 3461 §5.2.7.2 for one target, §5.2.7.3 c for several), and the
// target the relay refuses is reported to the sender under the ORCPT the
// client gave, with the message's ENVID.
func TestAliasTargetsKeepDSNParams(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dns := testlib.NewDNS(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnRcpt(func(rcpt string) error {
		if rcpt == "erin@remote.test" {
			return testlib.Perm
		}
		return nil
	})
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[dns]
servers = [%q]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "route"
plugin = "route"
[stage.config.aliases]
"one@sluice.test"  = ["carol@remote.test"]
"team@sluice.test" = ["dave@remote.test", "erin@remote.test"]
`, t.TempDir(), dns.Addr, relayTo(sink))
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	both := []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure}
	sendDSN(t, d.SMTPAddrs()["mx"].String(), "alice@sluice.test",
		&smtp.MailOptions{Return: smtp.DSNReturnHeaders, EnvelopeID: "env-1"},
		map[string]*smtp.RcptOptions{
			"one@sluice.test": {Notify: both},
			"team@sluice.test": {Notify: both,
				OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "x@y.test"},
		}, "one@sluice.test", "team@sluice.test")

	// The message to carol and dave, and the report on erin.
	var msg, report *testlib.Delivery
	for n := 1; msg == nil || report == nil; n++ {
		got := sink.WaitN(t, n, 10*time.Second)
		dl := got[n-1]
		switch dl.From {
		case "alice@sluice.test":
			if msg != nil {
				t.Fatalf("the message came twice: %v, then %v", msg.Rcpts, dl.Rcpts)
			}
			msg = &dl
		case "":
			report = &dl
		}
	}
	if !slices.Equal(msg.Rcpts, []string{"carol@remote.test", "dave@remote.test"}) {
		t.Fatalf("relay got %q, want carol and dave (erin refused)", msg.Rcpts)
	}
	want := []string{
		"NOTIFY=[SUCCESS FAILURE] ORCPT=RFC822;one@sluice.test", // the alias's own address
		"NOTIFY=[FAILURE] ORCPT=RFC822;x@y.test",                // several targets: no SUCCESS
	}
	for i, o := range msg.RcptOpts {
		got := fmt.Sprintf("NOTIFY=%v ORCPT=%s;%s", o.Notify, o.OriginalRecipientType, o.OriginalRecipient)
		if got != want[i] {
			t.Errorf("RCPT TO:<%s> %s, want %s", msg.Rcpts[i], got, want[i])
		}
	}

	data := string(report.Data)
	if !slices.Equal(report.Rcpts, []string{"alice@sluice.test"}) {
		t.Errorf("report to %v, want the sender", report.Rcpts)
	}
	for _, f := range []string{
		"Original-Envelope-Id: env-1",
		"Final-Recipient: rfc822; erin@remote.test",
		"Original-Recipient: RFC822; x@y.test",
		"Action: failed",
	} {
		if !strings.Contains(data, f+"\r\n") {
			t.Errorf("report lacks %q:\n%s", f, data)
		}
	}
	if strings.Contains(data, "carol@") || strings.Contains(data, "dave@") {
		t.Errorf("report names a target that was delivered (NOTIFY=SUCCESS went on with it):\n%s", data)
	}
}

// sendDSN submits one message with DSN parameters (RFC 3461 §4).
func sendDSN(t *testing.T, addr, from string, mo *smtp.MailOptions, ro map[string]*smtp.RcptOptions, rcpts ...string) {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, mo); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, ro[r]); err != nil {
			t.Fatalf("RCPT TO:<%s>: %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testlib.Message(from, rcpts[0], "aliased", "body")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.Quit()
}

// TestApplyEnvelopeDSNParams: the DSN parameters of AddRecipient and
// SetSender reach the queue's envelope decoded; a malformed one is
// ignored (the edit still applies) and returned; a recipient the client
// gave keeps its own.
func TestApplyEnvelopeDSNParams(t *testing.T) {
	client := envelope.Recipient{Addr: "bob@remote.test", Status: envelope.RcptPending,
		Notify: []string{"NEVER"}, ORcpt: "RFC822;bob@remote.test"}
	for _, tc := range []struct {
		name    string
		mail    map[string]string
		rcpts   []sdk.Recipient
		ret, id string
		want    []string // addr notify orcpt
		bad     int
	}{{
		name: "client's recipient, params as sent",
		rcpts: []sdk.Recipient{{Addr: "bob@remote.test", Params: map[string]string{
			"NOTIFY": "NEVER", "ORCPT": "RFC822;bob@remote.test"}}},
		ret: "FULL", id: "id-1",
		want: []string{"bob@remote.test [NEVER] RFC822;bob@remote.test"},
	}, {
		name:  "client's recipient without params",
		rcpts: []sdk.Recipient{{Addr: "Bob@remote.test"}},
		ret:   "FULL", id: "id-1",
		want: []string{"bob@remote.test [NEVER] RFC822;bob@remote.test"},
	}, {
		name: "added recipients",
		rcpts: []sdk.Recipient{
			{Addr: "carol@remote.test", Params: map[string]string{"NOTIFY": "success,Delay", "ORCPT": "rfc822;a+2Bb@origin.test"}},
			{Addr: "dave@remote.test", Params: map[string]string{"notify": "FAILURE", "orcpt": `utf-8;d\x{E9}@origin.test`, "FOO": "bar"}},
			{Addr: "erin@remote.test"},
		},
		ret: "FULL", id: "id-1",
		want: []string{
			"carol@remote.test [SUCCESS DELAY] RFC822;a+b@origin.test",
			"dave@remote.test [FAILURE] UTF-8;dé@origin.test",
			"erin@remote.test [] ",
		},
	}, {
		name: "malformed params ignored, recipients kept",
		rcpts: []sdk.Recipient{
			{Addr: "carol@remote.test", Params: map[string]string{"NOTIFY": "NEVER,SUCCESS", "ORCPT": "rfc822;ok@origin.test"}},
			{Addr: "dave@remote.test", Params: map[string]string{"NOTIFY": "SOMETIMES"}},
			{Addr: "erin@remote.test", Params: map[string]string{"NOTIFY": "DELAY", "ORCPT": "rfc822;bad+zz"}},
			{Addr: "frank@remote.test", Params: map[string]string{"ORCPT": "x400;c=us"}},
		},
		ret: "FULL", id: "id-1",
		want: []string{
			"carol@remote.test [] RFC822;ok@origin.test",
			"dave@remote.test [] ",
			"erin@remote.test [DELAY] ",
			"frank@remote.test [] ",
		},
		bad: 4,
	}, {
		name:  "re-added recipient with new params",
		rcpts: []sdk.Recipient{{Addr: "bob@remote.test", Params: map[string]string{"NOTIFY": "FAILURE"}}},
		ret:   "FULL", id: "id-1",
		want: []string{"bob@remote.test [FAILURE] "},
	}, {
		name:  "sender's params replaced",
		mail:  map[string]string{"RET": "hdrs", "ENVID": "new+2Bid"},
		rcpts: []sdk.Recipient{{Addr: "bob@remote.test"}},
		ret:   "HDRS", id: "new+id",
		want: []string{"bob@remote.test [NEVER] RFC822;bob@remote.test"},
	}, {
		name:  "sender's params removed",
		mail:  map[string]string{"SIZE": "100"},
		rcpts: []sdk.Recipient{{Addr: "bob@remote.test"}},
		want:  []string{"bob@remote.test [NEVER] RFC822;bob@remote.test"},
	}, {
		name:  "sender's params as sent",
		mail:  map[string]string{"RET": "FULL", "ENVID": "id-1"},
		rcpts: []sdk.Recipient{{Addr: "bob@remote.test"}},
		ret:   "FULL", id: "id-1",
		want: []string{"bob@remote.test [NEVER] RFC822;bob@remote.test"},
	}, {
		name:  "malformed sender's params ignored",
		mail:  map[string]string{"RET": "ALL", "ENVID": strings.Repeat("x", 101)},
		rcpts: []sdk.Recipient{{Addr: "bob@remote.test"}},
		want:  []string{"bob@remote.test [NEVER] RFC822;bob@remote.test"},
		bad:   1, // one error for the sender, naming both
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := &envelope.Message{From: "alice@sluice.test", Rcpts: []envelope.Recipient{client}, DSNRet: "FULL", DSNEnvID: "id-1"}
			bad := applyEnvelope(m, &sdk.Envelope{MailFrom: "bounces@sluice.test", MailParams: tc.mail, Rcpts: tc.rcpts})
			var got []string
			for _, r := range m.Rcpts {
				got = append(got, fmt.Sprintf("%s %v %s", r.Addr, r.Notify, r.ORcpt))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("recipients\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if m.From != "bounces@sluice.test" || m.DSNRet != tc.ret || m.DSNEnvID != tc.id {
				t.Errorf("sender <%s> RET=%q ENVID=%q, want <bounces@sluice.test> RET=%q ENVID=%q", m.From, m.DSNRet, m.DSNEnvID, tc.ret, tc.id)
			}
			if len(bad) != tc.bad {
				t.Errorf("%d errors %v, want %d", len(bad), bad, tc.bad)
			}
		})
	}
}
