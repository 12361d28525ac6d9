package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// outcomeLine is what the outcomer test plugin reports of a call.
type outcomeLine struct {
	Txn     sdk.Txn     `json:"txn"`
	Outcome sdk.Outcome `json:"outcome"`
}

// outcomeReporter takes the outcomer plugin's connection: its lines, and
// the lines that let a held call go.
type outcomeReporter struct {
	ln    net.Listener
	conn  chan net.Conn
	lines chan outcomeLine
}

func newOutcomeReporter(t *testing.T) *outcomeReporter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &outcomeReporter{ln: ln, conn: make(chan net.Conn, 1), lines: make(chan outcomeLine, 100)}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		r.conn <- c
		sc := bufio.NewScanner(c)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var l outcomeLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				r.lines <- l
			}
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return r
}

func (r *outcomeReporter) stage(t *testing.T, hold bool) string {
	bin := testlib.Build(t, "./internal/testplugins/outcomer")
	return fmt.Sprintf("[[stage]]\nname = \"outcome\"\nplugin = %q\ntimeout = \"30s\"\n[stage.config]\nreport = %q\nhold = %v\n",
		bin, r.ln.Addr().String(), hold)
}

// next returns the next call reported about queue id, skipping others
// (the bounce report's own delivery).
func (r *outcomeReporter) next(t *testing.T, id string) outcomeLine {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case l := <-r.lines:
			if l.Txn.Envelope.QueueID == id {
				return l
			}
		case <-timeout:
			t.Fatalf("no outcome of %s", id)
		}
	}
}

// release lets a held call answer.
func (r *outcomeReporter) release(t *testing.T) {
	t.Helper()
	select {
	case c := <-r.conn:
		if _, err := c.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		r.conn <- c
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin never connected")
	}
}

// A plugin declaring the outcome hook is told, once the attempt is
// committed, what became of each recipient: delivered (250), deferred
// (451) and failed (550) by a real server, with the reply, the host, the
// attempt counts, the message's Message-ID and Subject, and the notes
// another stage set at connect and data, as queued.
func TestOutcomeHookDeliveredDeferredFailed(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnRcpt(func(rcpt string) error {
		switch rcpt {
		case "later@remote.test":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy"}
		case "bad@remote.test":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	tag := actorStage(t, "tag", `{
		"connect": {"edits": [{"op": "set_note", "name": "client", "value": "web"}]},
		"data": {"*": {"edits": [{"op": "set_note", "name": "campaign", "value": "spring"}]}}}`, "")
	rep := newOutcomeReporter(t)
	d := startDaemon(t, relayTo(sink)+tag+rep.stage(t, false))

	c, err := smtp.Dial(d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, transactKeep(t, c, "spring-sale", "ok@remote.test", "later@remote.test", "bad@remote.test"))
	got := rep.next(t, id)
	if tx := got.Txn; tx.Envelope.MailFrom != "alice@sluice.test" || tx.Notes["campaign"] != "spring" || tx.Session.Notes["client"] != "web" {
		t.Errorf("txn %+v: want the sender and the notes set at connect and data", tx)
	}
	o := got.Outcome
	if o.Attempt != 1 || o.MessageID != "<spring-sale@test>" || o.Subject != "spring-sale" || o.Admin || o.QueueAge < 0 {
		t.Errorf("outcome %+v", o)
	}
	want := map[string]struct {
		status   sdk.OutcomeStatus
		code     int
		enhanced string
		text     string
	}{
		"ok@remote.test":    {sdk.OutcomeDelivered, 250, "2.0.0", ""},
		"later@remote.test": {sdk.OutcomeDeferred, 451, "4.2.1", "mailbox busy"},
		"bad@remote.test":   {sdk.OutcomeFailed, 550, "5.1.1", "no such user"},
	}
	if len(o.Rcpts) != len(want) {
		t.Fatalf("rcpts %+v", o.Rcpts)
	}
	for _, r := range o.Rcpts {
		w, ok := want[r.Addr]
		if !ok || r.Status != w.status || r.Code != w.code || r.Enhanced != w.enhanced || !strings.Contains(r.Text, w.text) ||
			r.Attempts != 1 || r.RemoteMTA == "" || r.Expired {
			t.Errorf("%s: %+v, want %+v from a host, 1 attempt", r.Addr, r, w)
		}
	}
}

// An outcome stage that does not answer holds up no delivery: with one
// delivery worker, a second message goes out while the plugin still
// holds the first's notification; it is told of both once it answers.
func TestOutcomeHookDoesNotHoldDelivery(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	rep := newOutcomeReporter(t)
	d := startDaemon(t, fmt.Sprintf("[delivery]\nrelay = %q\nworkers = 1\n", sink.Addr)+rep.stage(t, true))
	reply, err := send(t, d, "first", "one@remote.test")
	if err != nil {
		t.Fatal(err)
	}
	first := queuedID(t, reply)
	if o := rep.next(t, first).Outcome; len(o.Rcpts) != 1 || o.Rcpts[0].Status != sdk.OutcomeDelivered {
		t.Fatalf("first: %+v", o)
	}
	// The plugin now holds the first's call until release.
	reply, err = send(t, d, "second", "two@remote.test")
	if err != nil {
		t.Fatal(err)
	}
	second := queuedID(t, reply)
	sink.WaitN(t, 2, 10*time.Second)
	rep.release(t)
	if o := rep.next(t, second).Outcome; len(o.Rcpts) != 1 || o.Rcpts[0].Addr != "two@remote.test" {
		t.Fatalf("second: %+v", o)
	}
	rep.release(t)
}
