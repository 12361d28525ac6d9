package daemon

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Notes pass between two plugin processes: the score stage sets a session
// note at connect and a transaction note at rcpt; the decide stage, later
// in the pipeline, shows both in a header at data. The session's second
// transaction sees the session note, not the first one's transaction
// note. The deliver hook sees the notes queued with the message (decide
// refuses bob@ there, quoting them, so the report to the sender shows
// what it saw), and the trace names the notes each stage set. With
// delay_reject too, where the held hooks go to each stage in one batch.
func TestNotesBetweenPluginStages(t *testing.T) {
	for _, delay := range []bool{false, true} {
		t.Run(fmt.Sprintf("delay_reject=%v", delay), func(t *testing.T) {
			sink := testlib.NewSink(t, "127.0.0.1:0")
			score := actorStage(t, "score", `{
				"connect": {"edits": [{"op": "set_note", "name": "score", "value": "5"}]},
				"rcpt": {"bob@remote.test": {"edits": [{"op": "set_note", "name": "rbl", "value": "1"}]}}}`, "")
			decide := actorStage(t, "decide", `{
				"data": {"*": {"edits": [{"op": "echo", "name": "X-Notes", "value": "notes"}]}},
				"deliver": {"bob@remote.test": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "echo-notes"}}}`, "")
			d := startDaemonTop(t, fmt.Sprintf("delay_reject = %v", delay), relayTo(sink)+score+decide)

			c, err := smtp.Dial(d.SMTPAddrs()["mx"].String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello("client.test"); err != nil {
				t.Fatal(err)
			}
			first := transactKeep(t, c, "first", "bob@remote.test", "dave@remote.test")
			transactKeep(t, c, "second", "carol@remote.test")
			// dave's copy of the first, bob's report, carol's second.
			got := sink.WaitN(t, 3, 20*time.Second)
			unfold := strings.NewReplacer("\r\n ", " ", "\r\n\t", " ")
			var report string
			headers := map[string]string{}
			for _, dl := range got {
				data := unfold.Replace(string(dl.Data))
				if dl.From == "" {
					report = data
					continue
				}
				for _, line := range strings.Split(data, "\r\n") {
					if v, ok := strings.CutPrefix(line, "X-Notes: "); ok {
						headers[strings.Join(dl.Rcpts, ",")] = v
					}
				}
			}
			session := `session=map["score":"5"]`
			if want := session + ` txn=map["rbl":"1"]`; headers["dave@remote.test"] != want {
				t.Errorf("first message's X-Notes %q, want %q", headers["dave@remote.test"], want)
			}
			if want := session + ` txn=map[]`; headers["carol@remote.test"] != want {
				t.Errorf("second message's X-Notes %q, want %q", headers["carol@remote.test"], want)
			}
			if want := `550 5.7.1 notes ` + session + ` txn=map["rbl":"1"]`; !strings.Contains(report, want) {
				t.Errorf("the report on bob@ does not quote the deliver hook's %q:\n%s", want, report)
			}
			var notes []string
			for _, e := range getTrace(t, d, queuedID(t, first)).Entries {
				for _, ed := range e.Edits {
					if strings.HasPrefix(ed, "note ") {
						notes = append(notes, fmt.Sprintf("%s %s %s", e.Stage, e.Hook, ed))
					}
				}
			}
			if want := "score connect note score=5,score rcpt note rbl=1"; strings.Join(notes, ",") != want {
				t.Errorf("trace's notes %q, want %q", notes, want)
			}
		})
	}
}

// transactKeep runs one transaction on c and leaves the session open for
// the next; it returns the reply to the data.
func transactKeep(t *testing.T, c *smtp.Client, subject string, rcpts ...string) string {
	t.Helper()
	if err := c.Mail("alice@sluice.test", nil); err != nil {
		t.Fatal(err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(testlib.Message("alice@sluice.test", rcpts[0], subject, "body")); err != nil {
		t.Fatal(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusText
}

// Session notes last the connection across STARTTLS, as the rest of what
// stages decided at connect does: RFC 3207 §4.2 has the client say EHLO
// again, and the helo hook is asked again, but the connect hook is not,
// so a note it set must still be there for the session's transactions.
func TestNotesSurviveStartTLS(t *testing.T) {
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	sink := testlib.NewSink(t, "127.0.0.1:0")
	score := actorStage(t, "score", `{"connect": {"edits": [{"op": "set_note", "name": "score", "value": "5"}]}}`, "")
	decide := actorStage(t, "decide", `{"data": {"*": {"edits": [{"op": "echo", "name": "X-Notes", "value": "notes"}]}}}`, "")
	d := startDaemonTop(t, "", fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", certFile, keyFile)+relayTo(sink)+score+decide)
	conn, err := net.DialTimeout("tcp", d.SMTPAddrs()["mx"].String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	transactKeep(t, c, "after starttls", "bob@remote.test")
	got := sink.WaitN(t, 1, 20*time.Second)
	if want := `X-Notes: session=map["score":"5"] txn=map[]`; !strings.Contains(string(got[0].Data), want) {
		t.Errorf("no %q in the message:\n%s", want, got[0].Data)
	}
}
