package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// actorStage renders a [[stage]] running the actor test plugin with the
// JSON config js.
func actorStage(t *testing.T, name, js string, extra string) string {
	bin := testlib.Build(t, "./internal/testplugins/actor")
	var cfg map[string]any
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		t.Fatalf("bad actor config: %v", err)
	}
	return fmt.Sprintf("[[stage]]\nname = %q\nplugin = %q\n%s\n[stage.config]\njson = %q\n", name, bin, extra, js)
}

func queuedID(t *testing.T, reply string) string {
	t.Helper()
	i := strings.LastIndex(reply, "queued as ")
	if i < 0 {
		t.Fatalf("no queue id in %q", reply)
	}
	return strings.TrimSpace(reply[i+len("queued as "):])
}

func send(t *testing.T, d *Daemon, subject string, rcpts ...string) (string, error) {
	t.Helper()
	if len(rcpts) == 0 {
		rcpts = []string{"bob@remote.test"}
	}
	return testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", rcpts,
		testlib.Message("alice@sluice.test", rcpts[0], subject, "body of "+subject))
}

func relayTo(sink *testlib.Sink) string { return fmt.Sprintf("[delivery]\nrelay = %q\n", sink.Addr) }

func TestPipelineOrderBothWays(t *testing.T) {
	prefix := func(p string) string {
		return fmt.Sprintf(`{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": %q, "prefix": true}]}}}`, p)
	}
	for _, tc := range []struct{ first, second, want string }{
		{"a", "b", "Subject: [b][a]order"},
		{"b", "a", "Subject: [a][b]order"},
	} {
		sink := testlib.NewSink(t, "127.0.0.1:0")
		d := startDaemon(t, relayTo(sink)+actorStage(t, tc.first, prefix("["+tc.first+"]"), "")+actorStage(t, tc.second, prefix("["+tc.second+"]"), ""))
		if _, err := send(t, d, "order"); err != nil {
			t.Fatal(err)
		}
		got := sink.WaitN(t, 1, 10*time.Second)
		if !strings.Contains(string(got[0].Data), tc.want+"\r\n") {
			t.Fatalf("%s then %s: want %q in\n%s", tc.first, tc.second, tc.want, got[0].Data)
		}
	}
}

func TestPipelineActionsEndToEnd(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	actions := `{
	  "data": {
	    "do-reject":     {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "no thanks"},
	    "do-tempfail":   {"action": "tempfail", "code": 451, "enhanced": "4.7.1", "text": "later"},
	    "do-discard":    {"action": "discard"},
	    "do-quarantine": {"action": "quarantine"},
	    "do-accept":     {"action": "accept"}
	  },
	  "rcpt": {"nobody@remote.test": {"action": "reject", "code": 550, "enhanced": "5.1.1", "text": "no such user"}}
	}`
	// A later stage rejects everything the first lets through: only accept
	// (which skips later stages) gets past it, and the quarantined message
	// it lets through (a quarantine does not skip the later stages, whose
	// reject would refuse it: TestQuarantineAtDataSignedForRelease).
	guard := `{"data": {"do-quarantine": {"action": "continue"}, "*": {"action": "reject", "code": 554, "enhanced": "5.7.1", "text": "guard"}}}`
	d := startDaemon(t, relayTo(sink)+actorStage(t, "actions", actions, "")+actorStage(t, "guard", guard, ""))

	if _, err := send(t, d, "do-reject"); err == nil || !strings.Contains(err.Error(), "550 5.7.1 no thanks") {
		t.Errorf("reject: %v", err)
	}
	if _, err := send(t, d, "do-tempfail"); err == nil || !strings.Contains(err.Error(), "451 4.7.1 later") {
		t.Errorf("tempfail: %v", err)
	}
	if _, err := send(t, d, "anything-else"); err == nil || !strings.Contains(err.Error(), "554 5.7.1 guard") {
		t.Errorf("guard: %v", err)
	}
	if _, err := send(t, d, "x", "nobody@remote.test"); err == nil || !strings.Contains(err.Error(), "550 5.1.1 no such user") {
		t.Errorf("rcpt reject: %v", err)
	}
	discardReply, err := send(t, d, "do-discard")
	if err != nil || !strings.Contains(discardReply, "queued as") {
		t.Fatalf("discard: %q %v", discardReply, err)
	}
	// The id the client was given leads to what the stages did, though
	// nothing was queued.
	var dtrace []string
	for _, e := range getTrace(t, d, queuedID(t, discardReply)).Entries {
		if e.Hook == sdk.HookData {
			dtrace = append(dtrace, e.Stage+":"+e.Action)
		}
	}
	if got := strings.Join(dtrace, " "); got != "actions:discard" {
		t.Fatalf("discarded message's trace at data: %q, want actions:discard", got)
	}
	qReply, err := send(t, d, "do-quarantine")
	if err != nil {
		t.Fatalf("quarantine: %v", err)
	}
	qid := queuedID(t, qReply)
	m, err := d.Queue().Get(qid)
	if err != nil || m.State != envelope.StateQuarantined {
		t.Fatalf("quarantined message: %+v %v", m, err)
	}
	if _, err := send(t, d, "do-accept"); err != nil {
		t.Fatalf("accept: %v", err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)
	if !strings.Contains(string(got[0].Data), "Subject: do-accept") {
		t.Fatalf("first delivery is not the accepted message:\n%s", got[0].Data)
	}
	if err := d.Queue().Release(qid); err != nil {
		t.Fatal(err)
	}
	got = sink.WaitN(t, 2, 10*time.Second)
	if !strings.Contains(string(got[1].Data), "Subject: do-quarantine") {
		t.Fatalf("released quarantined message not delivered:\n%s", got[1].Data)
	}
	// The discarded message never arrives: the queue is empty and the
	// sink holds exactly the two above.
	waitEmpty(t, d)
	if n := len(sink.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries, want 2 (discarded must not arrive)", n)
	}
}

func TestPipelineEditsEndToEnd(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	edits := `{"data": {"*": {"edits": [
	  {"op": "add_header", "name": "X-Added", "value": "yes"},
	  {"op": "insert_header", "index": 0, "name": "X-Top", "value": "first"},
	  {"op": "change_header", "name": "Subject", "value": "changed"},
	  {"op": "delete_header", "name": "Message-ID"},
	  {"op": "set_sender", "addr": "bounces@sluice.test"},
	  {"op": "add_recipient", "addr": "archive@remote.test"},
	  {"op": "remove_recipient", "addr": "bob@remote.test"},
	  {"op": "replace_body", "body": "replaced body\r\n"}
	]}}, "rcpt": {"*": {"edits": [{"op": "set_route", "route": "mx"}]}}}`
	d := startDaemon(t, relayTo(sink)+actorStage(t, "edits", edits, ""))
	r, err := send(t, d, "orig", "bob@remote.test", "carol@remote.test")
	if err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if got.From != "bounces@sluice.test" {
		t.Errorf("sender %q", got.From)
	}
	if strings.Join(got.Rcpts, ",") != "carol@remote.test,archive@remote.test" {
		t.Errorf("rcpts %v", got.Rcpts)
	}
	data := string(got.Data)
	if !strings.HasPrefix(data, "X-Top: first\r\nReceived: ") {
		t.Errorf("insert at 0:\n%s", data)
	}
	for _, want := range []string{"\r\nSubject: changed\r\n", "\r\nX-Added: yes\r\n\r\nreplaced body\r\n"} {
		if !strings.Contains(data, want) {
			t.Errorf("missing %q in\n%s", want, data)
		}
	}
	if strings.Contains(data, "Message-ID") || strings.Contains(data, "body of orig") {
		t.Errorf("delete/replace failed:\n%s", data)
	}
	// The trace records every edit, at the admin API.
	tr := getTrace(t, d, queuedID(t, r))
	var edited []string
	for _, e := range tr.Entries {
		edited = append(edited, e.Edits...)
	}
	joined := strings.Join(edited, "\n")
	for _, want := range []string{"add header X-Added", "insert header at 0", "change header Subject", "delete header Message-ID",
		"set sender <bounces@sluice.test>", "add recipient <archive@remote.test>", "remove recipient <bob@remote.test>",
		"replace body (15 bytes)", "set route of <bob@remote.test> to mx"} {
		if !strings.Contains(joined, want) {
			t.Errorf("trace lacks %q:\n%s", want, joined)
		}
	}
}

func getTrace(t *testing.T, d *Daemon, id string) pipeline.Trace {
	t.Helper()
	resp, err := http.Get("http://" + d.AdminAddr().String() + "/api/trace/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tr pipeline.Trace
	if resp.StatusCode != 200 || json.Unmarshal(b, &tr) != nil {
		t.Fatalf("trace %d %s", resp.StatusCode, b)
	}
	return tr
}

func TestPluginKilledMidTransaction(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "fragile", `{"data": {"kill-me": {"crash": true}}}`, ""))
	_, err := send(t, d, "kill-me")
	if err == nil || !strings.Contains(err.Error(), "451 4.3.0") {
		t.Fatalf("want 451 4.3.0 for the transaction that killed the plugin, got %v", err)
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Fatalf("half-processed message queued: %+v", msgs[0])
	}
	waitStage(t, d, "fragile", func(s pipeline.StageStatus) bool { return s.State == "running" && s.Restarts >= 1 })
	if _, err := send(t, d, "fine"); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	sink.WaitN(t, 1, 10*time.Second)
}

// waitStage waits until the named stage's status satisfies ok.
func waitStage(t *testing.T, d *Daemon, name string, ok func(pipeline.StageStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, s := range d.pipe().Status() {
			if s.Name == name && ok(s) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stage %s: %+v", name, d.pipe().Status())
		}
		d.Kick() // cheap; gives the poll a bounded, non-sleeping pace
		time.Sleep(20 * time.Millisecond)
	}
}

// hungAtData is the config of a stage whose data hook hangs: its short
// data_timeout bounds only that hook. The stage's timeout (5 s) bounds
// its other hooks, which answer, the deliver hook's among them: 200 ms
// for every call to a plugin process is a bound a loaded machine can
// miss on one that answers.
const hungAtData = "data_timeout = \"200ms\"\non_error = \"continue\""

func TestHungPluginTimesOutToOnError(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	// The mail hook's timeout is the stuck stage's timeout, which bounds
	// its connect and helo calls as well: long enough for a loaded
	// machine to answer those.
	d := startDaemon(t, relayTo(sink)+
		actorStage(t, "hung", `{"data": {"*": {"hang": true}}}`, hungAtData)+
		actorStage(t, "stuck", `{"mail": {"hang": true}}`, "timeout = \"2s\"\non_error = \"tempfail\""))
	_, err := send(t, d, "x")
	if err == nil || !strings.Contains(err.Error(), "451 4.3.0") {
		t.Fatalf("stuck mail hook with on_error=tempfail: %v", err)
	}
	st := d.pipe().Status()
	if st[1].Errors != 1 {
		t.Fatalf("errors not counted: %+v", st[1])
	}
}

func TestHungPluginContinue(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "hung", `{"data": {"*": {"hang": true}}}`, hungAtData))
	r, err := send(t, d, "x")
	if err != nil {
		t.Fatalf("on_error=continue: %v", err)
	}
	sink.WaitN(t, 1, 10*time.Second)
	tr := getTrace(t, d, queuedID(t, r))
	last := tr.Entries[len(tr.Entries)-1]
	if last.Hook != "data" || last.Action != "error" || last.OnError != "continue" || !strings.Contains(last.Error, "deadline exceeded") {
		t.Fatalf("trace %+v", tr)
	}
}

func TestPluginThatCannotStartFailsStartup(t *testing.T) {
	src := fmt.Sprintf("hostname = \"x.test\"\ndata_dir = %q\n[[listener]]\nlisten = \"127.0.0.1:0\"\n%s",
		t.TempDir(), actorStage(t, "broken", `{"fail_start": true}`, ""))
	c := mustParse(t, src)
	_, err := Start(Options{Config: c, Logger: discardLog()})
	if err == nil || !strings.Contains(err.Error(), `stage "broken"`) || !strings.Contains(err.Error(), "configured to fail at start") {
		t.Fatalf("start: %v", err)
	}
}

func TestLargeMessageThroughBodyReplacingPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MiB")
	}
	// The relay is a closed port: the message stays queued, and what the
	// plugin made of it is read back from the queue (a second 50 MiB SMTP
	// transfer would only test go-smtp, slowly under -race).
	const size = 50 << 20
	d := startDaemon(t, "[delivery]\nrelay = \"127.0.0.1:1\"\n[limits]\nmax_message_size = 62914560\n"+
		actorStage(t, "big", fmt.Sprintf(`{"data": {"*": {"edits": [{"op": "replace_body", "body_size": %d}]}}}`, size), "timeout = \"120s\""))
	body := strings.Repeat(strings.Repeat("y", 998)+"\r\n", size/1000)
	r, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@sluice.test", []string{"bob@remote.test"},
		[]byte("Subject: big\r\n\r\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Queue().Body(queuedID(t, r))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(got), "\r\n\r\n")
	if n := len(got) - i - 4; n != size || got[len(got)-1] != '\n' || got[i+4] != 'x' {
		t.Fatalf("body %d bytes, want %d of the plugin's", n, size)
	}
}

func TestFirstPartyPluginByName(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "stamp"
plugin = "headers"
[stage.config]
add = [{ name = "X-Relayed-By", value = "sluice" }]
remove = ["Message-ID"]
`, t.TempDir(), relayTo(sink))
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if _, err := send(t, d, "stamped"); err != nil {
		t.Fatal(err)
	}
	data := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(data, "X-Relayed-By: sluice\r\n") || strings.Contains(data, "Message-ID") {
		t.Fatalf("headers plugin did not run:\n%s", data)
	}
}
