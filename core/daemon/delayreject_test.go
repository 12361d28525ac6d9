package daemon

import (
	"fmt"
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

// A real milter between two plugins, with delay_reject: it gets its held
// connect, helo and mail one call at a time (milters take no batches),
// refuses one recipient at RCPT, and the plugin after it gets its held
// hooks with the next recipient; the message goes through all three.
func TestDelayRejectWithMilter(t *testing.T) {
	prefix := func(p string) string {
		return fmt.Sprintf(`{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": %q, "prefix": true}]}}}`, p)
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	m := startMilter(t, nil, "[m]")
	d := startDaemonTop(t, "delay_reject = true", relayTo(sink)+actorStage(t, "a", prefix("[a]"), "")+milterStage("m", m, "")+actorStage(t, "b", prefix("[b]"), ""))
	c := openTxn(t, d)
	err := c.Rcpt("nobody@remote.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.Message != "no such user here" {
		t.Fatalf("RCPT nobody: %v, want the milter's 550", err)
	}
	if err := c.Rcpt("bob@remote.test", nil); err != nil {
		t.Fatalf("RCPT bob: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testlib.Message("alice@sluice.test", "bob@remote.test", "order", "body")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if !strings.Contains(string(got.Data), "Subject: [b][m][a]order\r\n") {
		t.Fatalf("want every stage's tag:\n%s", got.Data)
	}
	if len(got.Rcpts) != 1 || got.Rcpts[0] != "bob@remote.test" {
		t.Fatalf("delivered to %v", got.Rcpts)
	}
}

// With delay_reject, a plugin that hangs at the rcpt hook of one
// recipient costs that recipient alone: it gets on_error's 451, and the
// next recipient, asked with the stage's held hooks answered already, is
// accepted and delivered. (The plugin says which call of its batch ran out
// of time; before, the whole batch failed and the failure was charged to
// the held connect hook, refusing every RCPT of the session.) The
// stage's timeout bounds the hooks that answer as well, bob's rcpt, data
// and deliver calls each alone: 1 s, not the 300 ms a loaded machine
// can miss. The batch of the held hooks and x's rcpt has it once per
// call, 4 s, which the hung call takes; its answer has the 100 ms the
// plugin keeps back (sdk's answerBefore) to reach the core in.
func TestDelayRejectRcptHangIsThatRecipients(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	hang := `{"rcpt": {"x@remote.test": {"hang": true}}}`
	d := startDaemonTop(t, "delay_reject = true", relayTo(sink)+actorStage(t, "a", `{}`, "")+actorStage(t, "b", hang, `timeout = "1s"`))
	c := openTxn(t, d)
	err := c.Rcpt("x@remote.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 451 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 0}) {
		t.Fatalf("RCPT x: %v, want on_error's 451 4.3.0", err)
	}
	if err := c.Rcpt("bob@remote.test", nil); err != nil {
		t.Fatalf("RCPT bob after x failed: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testlib.Message("alice@sluice.test", "bob@remote.test", "one hung", "body")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; len(got.Rcpts) != 1 || got.Rcpts[0] != "bob@remote.test" {
		t.Fatalf("delivered to %v, want bob", got.Rcpts)
	}
}
