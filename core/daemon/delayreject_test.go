package daemon

import (
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// With delay_reject a plugin's refusal at helo is not the reply to EHLO:
// the client gets 220 and 250 up to MAIL, and the refusal at every RCPT.
func TestDelayRejectRefusesAtRcpt(t *testing.T) {
	gate := `{"helo": {"action": "reject", "code": 554, "enhanced": "5.7.1", "text": "helo refused"}}`
	d := startDaemonTop(t, "delay_reject = true", actorStage(t, "gate", gate, ""))
	c, err := smtp.Dial(d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatalf("EHLO refused at once: %v", err)
	}
	if err := c.Mail("alice@sluice.test", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	for _, rcpt := range []string{"bob@remote.test", "carol@remote.test"} {
		err := c.Rcpt(rcpt, nil)
		if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 554 || se.EnhancedCode != (smtp.EnhancedCode{5, 7, 1}) || se.Message != "helo refused" {
			t.Fatalf("RCPT %s: %v, want 554 5.7.1 helo refused", rcpt, err)
		}
	}
}

// The held hooks reach every stage in SMTP order, at the first RCPT; the
// trace reads hook by hook as without delay_reject, and the message is
// delivered.
func TestDelayRejectTraceAndDelivery(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tag := `{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Tag", "value": "a"}]}}}`
	d := startDaemonTop(t, "delay_reject = true", relayTo(sink)+actorStage(t, "a", tag, "")+actorStage(t, "b", `{}`, ""))
	r, err := send(t, d, "delayed")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data); !strings.Contains(got, "X-Tag: a\r\n") {
		t.Fatalf("stage a's edit missing:\n%s", got)
	}
	var got []string
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		got = append(got, e.Stage+":"+string(e.Hook)+":"+e.Action)
	}
	want := "a:connect:continue b:connect:continue a:helo:continue b:helo:continue a:mail:continue b:mail:continue " +
		"a:rcpt:continue b:rcpt:continue a:data:continue b:data:continue"
	if strings.Join(got, " ") != want {
		t.Fatalf("trace\n %s\nwant\n %s", strings.Join(got, " "), want)
	}
}
