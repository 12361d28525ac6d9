package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// connectCounter is a milter that counts the sessions connecting to it.
type connectCounter struct {
	gm.NoOpMilter
	n *atomic.Int32
}

func (m *connectCounter) Connect(string, string, uint16, net.IP, *gm.Modifier) (gm.Response, error) {
	m.n.Add(1)
	return gm.RespContinue, nil
}

// A stage with listeners = ["sub"] serves sub's sessions only, as a
// Postfix milter set by one master.cf service's -o smtpd_milters: on mx,
// the plugin is asked none of the session's hooks (its rcpt refusal and
// its Subject tag do not happen, the trace says it was skipped) but still
// the deliver hook, which belongs to no session, and the milter is not
// even connected. With delay_reject too, whose batches must leave it
// out. A reload that moves the stages to mx applies to new sessions.
func TestStageListenersPerListener(t *testing.T) {
	for _, delay := range []bool{false, true} {
		t.Run(fmt.Sprintf("delay_reject=%v", delay), func(t *testing.T) { testStageListeners(t, delay) })
	}
}

func testStageListeners(t *testing.T, delay bool) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var connects atomic.Int32
	srv := &gm.Server{NewMilter: func() gm.Milter { return &connectCounter{n: &connects} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	const tag = `{"rcpt": {"spam@remote.test": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "not from here"}},
	  "data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": "[tag]", "prefix": true}]}}}`
	dataDir := filepath.Join(t.TempDir(), "data")
	cfg := func(only string) string {
		limit := fmt.Sprintf("listeners = [%q]", only)
		return fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\n"+
			"relay_networks = [\"127.0.0.0/8\"]\ndelay_reject = %v\n[admin]\nlisten = \"127.0.0.1:0\"\n", dataDir, delay) +
			relayTo(sink) +
			"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\n" +
			actorStage(t, "tag", tag, limit) + milterStage("m", "tcp:"+ln.Addr().String(), limit)
	}
	d, path := startFile(t, cfg("sub"))
	// sendOn sends a message on listener, first trying spam@remote.test,
	// and returns the queue id and RCPT's error for spam@.
	sendOn := func(listener, subject string) (string, error) {
		t.Helper()
		c, err := smtp.Dial(d.SMTPAddrs()[listener].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("client.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("alice@sluice.test", nil); err != nil {
			t.Fatal(err)
		}
		spamErr := c.Rcpt("spam@remote.test", nil)
		if err := c.Rcpt("bob@remote.test", nil); err != nil {
			t.Fatalf("%s: RCPT bob: %v", listener, err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(testlib.Message("alice@sluice.test", "bob@remote.test", subject, "x")); err != nil {
			t.Fatal(err)
		}
		resp, err := w.CloseWithResponse()
		if err != nil {
			t.Fatalf("%s: end of data: %v", listener, err)
		}
		id := queuedID(t, resp.StatusText)
		_ = c.Quit()
		return id, spamErr
	}
	delivered := func(n int, subject string) string {
		t.Helper()
		got := sink.WaitN(t, n, 10*time.Second)[n-1]
		data := string(got.Data)
		if !strings.Contains(data, "Subject: ") || !strings.Contains(data, subject+"\r\n") {
			t.Fatalf("delivery %d is not %q:\n%s", n, subject, data)
		}
		i := strings.Index(data, "Subject: ")
		return data[i+len("Subject: ") : i+strings.Index(data[i:], "\r\n")]
	}
	tagStatus := func() pipeline.StageStatus {
		for _, s := range d.pipe().Status() {
			if s.Name == "tag" {
				return s
			}
		}
		t.Fatal("no stage tag in the pipeline")
		return pipeline.StageStatus{}
	}
	tagCalls := func() int64 { return tagStatus().Calls }
	// GET /api/pipeline shows the listeners.
	if got, _ := json.Marshal(tagStatus()); !strings.Contains(string(got), `"listeners":["sub"]`) {
		t.Errorf("/api/pipeline: stage tag is %s, want \"listeners\":[\"sub\"]", got)
	}

	id, spamErr := sendOn("mx", "on-mx")
	if spamErr != nil {
		t.Errorf("mx: RCPT spam@ refused by a stage for sub only: %v", spamErr)
	}
	if got := delivered(1, "on-mx"); got != "on-mx" {
		t.Errorf("mx: Subject %q, want it untagged", got)
	}
	if n := connects.Load(); n != 0 {
		t.Errorf("mx: the milter for sub only was connected %d times", n)
	}
	// The deliver hook alone, asked once the message was taken, for
	// each of its two recipients.
	if n := tagCalls(); n != 2 {
		t.Errorf("after mx's message, stage tag was called %d times, want 2 (the deliver hook, for spam@ and bob@)", n)
	}
	waitEmpty(t, d)
	var tr pipeline.Trace
	if raw, err := d.Queue().Trace(id); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(raw, &tr); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	for _, te := range tr.Entries {
		if te.Stage == "tag" || te.Stage == "m" {
			skipped = append(skipped, fmt.Sprintf("%s %s %s: %s", te.Stage, te.Hook, te.Action, te.Reason))
		}
	}
	if want := "tag data skipped: not for listener mx|m data skipped: not for listener mx"; strings.Join(skipped, "|") != want {
		t.Errorf("mx trace of the stages for sub: %q, want %q", skipped, want)
	}

	_, spamErr = sendOn("sub", "on-sub")
	var se *smtp.SMTPError
	if !errors.As(spamErr, &se) || se.Code != 550 {
		t.Errorf("sub: RCPT spam@: %v, want the stage's 550", spamErr)
	}
	if got := delivered(2, "on-sub"); got != "[tag]on-sub" {
		t.Errorf("sub: Subject %q, want [tag]on-sub", got)
	}
	if n := connects.Load(); n != 1 {
		t.Errorf("sub: the milter was connected %d times, want once", n)
	}

	if err := os.WriteFile(path, []byte(cfg("mx")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := tagStatus().Listeners; len(got) != 1 || got[0] != "mx" {
		t.Errorf("/api/pipeline after the reload: stage tag's listeners %q, want [mx]", got)
	}
	if _, spamErr = sendOn("mx", "mx-after"); !errors.As(spamErr, &se) || se.Code != 550 {
		t.Errorf("mx after the reload: RCPT spam@: %v, want the stage's 550", spamErr)
	}
	if got := delivered(3, "mx-after"); got != "[tag]mx-after" {
		t.Errorf("mx after the reload: Subject %q, want [tag]mx-after", got)
	}
	if n := connects.Load(); n != 2 {
		t.Errorf("mx after the reload: the milter was connected %d times in all, want 2", n)
	}
	if _, spamErr = sendOn("sub", "sub-after"); spamErr != nil {
		t.Errorf("sub after the reload: RCPT spam@: %v", spamErr)
	}
	if got := delivered(4, "sub-after"); got != "sub-after" {
		t.Errorf("sub after the reload: Subject %q, want it untagged", got)
	}
	if n := connects.Load(); n != 2 {
		t.Errorf("sub after the reload: the milter was connected %d times in all, want still 2", n)
	}
}

// sluice replay is no listener's session: it runs every stage, those
// with listeners too, to show what the whole pipeline does.
func TestReplayRunsStagesOfEveryListener(t *testing.T) {
	src := fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\n"+
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\n", t.TempDir()) +
		actorStage(t, "tag", `{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": "[tag]", "prefix": true}]}}}`, `listeners = ["sub"]`)
	res, err := Replay(context.Background(), mustParse(t, src), []byte("From: a@example.net\r\nTo: b@sluice.test\r\nSubject: x\r\n\r\nx\r\n"), ReplayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Message, "Subject: [tag]x\r\n") {
		t.Errorf("replay: the stage for sub did not run: %+v\n%s", res.Trace, res.Message)
	}
}
