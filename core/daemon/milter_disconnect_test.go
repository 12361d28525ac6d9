package daemon

import (
	"net"
	"testing"

	gm "github.com/emersion/go-milter"
)

// byeMilter answers SMFIR_REPLYCODE "521 5.7.1 bye" at the one event it
// is given, and continues at the others.
type byeMilter struct {
	gm.NoOpMilter
	at string
}

func (m *byeMilter) answer(at string) (gm.Response, error) {
	if at == m.at {
		return gm.NewResponseStr('y', "521 5.7.1 bye"), nil
	}
	return gm.RespContinue, nil
}

func (m *byeMilter) Connect(string, string, uint16, net.IP, *gm.Modifier) (gm.Response, error) {
	return m.answer("connect")
}

func (m *byeMilter) RcptTo(string, *gm.Modifier) (gm.Response, error) { return m.answer("rcpt") }

func (m *byeMilter) Body(*gm.Modifier) (gm.Response, error) { return m.answer("data") }

// startByeMilter serves a byeMilter refusing at at, and returns its stage
// address.
func startByeMilter(t *testing.T, at string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gm.Server{NewMilter: func() gm.Milter { return &byeMilter{at: at} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp:" + ln.Addr().String()
}

// A milter's 521 ends the session as a plugin's does
// (TestFilterAccessClosingRepliesDisconnect), as Postfix's smtpd hangs
// up after a milter's 521 reply: at RCPT, at the end of DATA (nothing
// queued), and at connect in place of the greeting or, under
// delay_reject, at the first RCPT. Each reply, then the end of the
// stream.
func TestMilter521Disconnects(t *testing.T) {
	for _, delay := range []bool{false, true} {
		top := ""
		if delay {
			top = "delay_reject = true"
		}
		d := startDaemonTop(t, top, milterStage("m", startByeMilter(t, "rcpt"), ""))
		rc := dialRaw(t, d)
		rc.envelope("a@sluice.test")
		rc.expectLast("RCPT TO:<b@sluice.test>", "521 5.7.1 bye")

		d = startDaemonTop(t, top, milterStage("m", startByeMilter(t, "data"), ""))
		rc = dialRaw(t, d)
		rc.envelope("a@sluice.test", "b@sluice.test")
		if got := rc.data("Subject: x\r\n\r\nhi\r\n"); got != "521 5.7.1 bye" {
			t.Fatalf("end of DATA: got %q, want the milter's 521", got)
		}
		expectEOF(t, rc.c, rc.r)
		if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
			t.Fatalf("queue holds %d messages after the 521", len(msgs))
		}

		d = startDaemonTop(t, top, milterStage("m", startByeMilter(t, "connect"), ""))
		if !delay {
			greetingThenEOF(t, d.SMTPAddrs()["mx"].String(), "521 5.7.1 bye")
			continue
		}
		rc = dialRaw(t, d)
		rc.envelope("a@sluice.test")
		rc.expectLast("RCPT TO:<b@sluice.test>", "521 5.7.1 bye")
	}
}
