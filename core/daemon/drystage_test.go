package daemon

import (
	"context"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// startLogged starts a daemon on src with its log, as JSON, in buf.
func startLogged(t *testing.T, src string, buf *syncBuf) *Daemon {
	t.Helper()
	c := mustParse(t, src)
	d, err := Start(Options{Config: c, Logger: NewLogger(config.Log{Format: "json"}, buf), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d
}

// dryEntry is the trace entry of stage at hook.
func dryEntry(t *testing.T, tr pipeline.Trace, stage string, hook sdk.Hook) pipeline.TraceEntry {
	t.Helper()
	for _, e := range tr.Entries {
		if e.Stage == stage && e.Hook == hook {
			return e
		}
	}
	t.Fatalf("no %s entry of stage %s in %+v", hook, stage, tr.Entries)
	return pipeline.TraceEntry{}
}

// A stage in dry run that rejects every recipient and adds a header at
// data changes nothing: the message is queued and delivered without the
// header, a later stage does not see it, and what the stage would have
// done is in the trace, the log, sluice_stage_dry_run_total and
// /api/pipeline.
func TestDryRunStageRecordsNotApplies(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dry := actorStage(t, "new", `{
	  "rcpt": {"*": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "not wanted", "edits": [{"op": "set_route", "route": "mx"}]}},
	  "data": {"*": {"action": "quarantine", "edits": [{"op": "add_header", "name": "X-Dry", "value": "yes"}, {"op": "set_note", "name": "k", "value": "v"}]}}
	}`, "dry_run = true")
	later := actorStage(t, "later", `{"data": {"*": {"edits": [{"op": "echo", "name": "X-Later-Saw", "value": "header:X-Dry"}, {"op": "echo", "name": "X-Later-Notes", "value": "notes"}]}}}`, "")
	var buf syncBuf
	d := startLogged(t, fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s%s%s`, filepath.Join(t.TempDir(), "data"), relayTo(sink), dry, later), &buf)
	r, err := send(t, d, "dry")
	if err != nil {
		t.Fatalf("a dry-run stage's reject was applied: %v", err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	data := string(got.Data)
	if strings.Contains(data, "X-Dry") || !strings.Contains(data, "X-Later-Saw: \"\"\r\n") || !strings.Contains(data, `X-Later-Notes: session=map[] txn=map[]`) {
		t.Errorf("the dry-run stage's edits reached the message or a later stage:\n%s", data)
	}
	if strings.Join(got.Rcpts, ",") != "bob@remote.test" {
		t.Errorf("rcpts %v", got.Rcpts)
	}
	tr := getTrace(t, d, queuedID(t, r))
	rc := dryEntry(t, tr, "new", sdk.HookRcpt)
	if rc.Action != "dry run: would reject" || !strings.HasPrefix(rc.Reply, "550 5.7.1 not wanted") || !rc.DryRun ||
		len(rc.Edits) != 1 || !strings.Contains(rc.Edits[0], "would set route") {
		t.Errorf("rcpt entry %+v", rc)
	}
	de := dryEntry(t, tr, "new", sdk.HookData)
	if de.Action != "dry run: would quarantine" || !strings.Contains(strings.Join(de.Edits, "\n"), "would add header X-Dry") {
		t.Errorf("data entry %+v", de)
	}
	if m, err := d.Queue().Get(queuedID(t, r)); err == nil && m.State != "" && m.State != "active" {
		t.Errorf("message state %s", m.State)
	}
	text := scrape(t, d)
	if v := value(t, text, `sluice_stage_dry_run_total\{action="reject",hook="rcpt",stage="new"\}`); v != 1 {
		t.Errorf("dry-run reject counted %v times\n%s", v, text)
	}
	if v := value(t, text, `sluice_stage_calls_total\{hook="rcpt",stage="new",verdict="reject"\}`); v != 0 {
		t.Errorf("a dry-run reject counted as a reject: %v", v)
	}
	st := d.pipe().Status()[0]
	if !st.DryRun || st.DryRunVerdicts["reject"] != 1 || st.DryRunVerdicts["quarantine"] != 1 {
		t.Errorf("/api/pipeline: %+v", st)
	}
	waitEmpty(t, d)
	log := buf.String()
	if !strings.Contains(log, `"msg":"stage dry run","stage":"new","hook":"rcpt","would":"reject","reply":"550 5.7.1 not wanted`) {
		t.Errorf("no dry run log line:\n%s", log)
	}
}

// A stage in dry run that times out does not call its on_error
// (tempfail): the message goes through, the trace says so. The timeout
// of the stage, whose rcpt hook hangs, bounds its other hooks as well,
// which answer: 2 s, not the 200 ms a loaded machine can miss.
func TestDryRunStageTimeoutContinues(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "slow", `{"rcpt": {"*": {"hang": true}}}`, "timeout = \"2s\"\non_error = \"tempfail\"\ndry_run = true"))
	r, err := send(t, d, "slow")
	if err != nil {
		t.Fatalf("a dry-run stage's timeout tempfailed: %v", err)
	}
	sink.WaitN(t, 1, 10*time.Second)
	e := dryEntry(t, getTrace(t, d, queuedID(t, r)), "slow", sdk.HookRcpt)
	if e.Action != "dry run: error" || !strings.Contains(e.Error, "deadline exceeded") || !e.DryRun {
		t.Fatalf("entry %+v", e)
	}
	if st := d.pipe().Status()[0]; st.Errors != 1 || st.DryRunVerdicts["error"] != 1 {
		t.Fatalf("status %+v", st)
	}
}

// rejectMilter refuses every sender (mail) or every recipient, and
// counts the headers steps it is sent.
type rejectMilter struct {
	gm.NoOpMilter
	mail    bool
	headers *atomic.Int32
}

func (m *rejectMilter) MailFrom(string, *gm.Modifier) (gm.Response, error) {
	if m.mail {
		return gm.NewResponseStr('y', "550 5.7.1 milter says no"), nil
	}
	return gm.RespContinue, nil
}

func (m *rejectMilter) RcptTo(string, *gm.Modifier) (gm.Response, error) {
	return gm.NewResponseStr('y', "550 5.7.1 milter says no"), nil
}

func (m *rejectMilter) Headers(textproto.MIMEHeader, *gm.Modifier) (gm.Response, error) {
	m.headers.Add(1)
	return gm.RespContinue, nil
}

// dryMilterRun sends one message through a milter in dry run that
// rejects at MAIL (mail) or at each RCPT, checks it is delivered, and
// returns the milter's trace entries and how many times it was sent the
// message's header.
func dryMilterRun(t *testing.T, mail bool) (asked string, headers int32) {
	t.Helper()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	srv := &gm.Server{NewMilter: func() gm.Milter { return &rejectMilter{mail: mail, headers: &n} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	d := startDaemon(t, relayTo(sink)+milterStage("m", "tcp:"+ln.Addr().String(), "dry_run = true"))
	r, err := send(t, d, "milter", "bob@remote.test", "carol@remote.test")
	if err != nil {
		t.Fatalf("a dry-run milter's reject was applied: %v", err)
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; strings.Join(got.Rcpts, ",") != "bob@remote.test,carol@remote.test" {
		t.Fatalf("rcpts %v", got.Rcpts)
	}
	var out []string
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Stage == "m" {
			out = append(out, string(e.Hook)+":"+e.Action)
		}
	}
	return strings.Join(out, " "), n.Load()
}

// A milter in dry run that rejects at MAIL is held done with the
// transaction, as after a real reject: it is asked no recipient, not
// sent the message, and the message is delivered.
func TestDryRunMilterRejectNotAskedData(t *testing.T) {
	asked, headers := dryMilterRun(t, true)
	if headers != 0 {
		t.Errorf("the milter was sent the message %d times after its reject", headers)
	}
	if asked != "connect:continue helo:continue mail:dry run: would reject" {
		t.Errorf("milter asked %q", asked)
	}
}

// A milter's reject at RCPT refuses that recipient only (milter
// protocol; after a real one the milter is asked the next recipient and
// sent the message): in dry run it is asked each recipient and sent the
// message, so that what it would do with the message is seen too. It
// used to be held done with the whole transaction at its first RCPT
// reject, and never shown a message.
func TestDryRunMilterRcptRejectStillAsked(t *testing.T) {
	asked, headers := dryMilterRun(t, false)
	if headers != 1 {
		t.Errorf("the milter was sent the message %d times, want once", headers)
	}
	if want := "connect:continue helo:continue mail:continue rcpt:dry run: would reject rcpt:dry run: would reject data:continue"; asked != want {
		t.Errorf("milter asked %q, want %q", asked, want)
	}
}

// dry_run is the core's: a reload that turns it on or off keeps the
// stage's process, and the new setting applies at once.
func TestReloadDryRunKeepsProcess(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	js := `{"rcpt": {"*": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "no"}}}`
	on := reloadBase(dataDir, mxListener+relayTo(sink)+actorStage(t, "new", js, "dry_run = true"))
	off := reloadBase(dataDir, mxListener+relayTo(sink)+actorStage(t, "new", js, ""))
	d, path := startFile(t, on)
	if _, err := send(t, d, "on"); err != nil {
		t.Fatalf("in dry run: %v", err)
	}
	oldGen := d.live.current()
	if err := os.WriteFile(path, []byte(off), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if oldGen.stages[0] != d.live.current().stages[0] {
		t.Error("turning dry_run off restarted the plugin")
	}
	if _, err := send(t, d, "off"); err == nil || !strings.Contains(err.Error(), "550 5.7.1 no") {
		t.Fatalf("dry_run off: %v", err)
	}
	if st := d.pipe().Status()[0]; st.DryRun || st.Restarts != 0 {
		t.Errorf("status %+v", st)
	}
}

// sluice replay runs a stage in dry run as the daemon does: its verdict
// is shown, marked, and not applied.
func TestReplayDryRunStage(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	c := mustParse(t, fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n%s",
		t.TempDir(), actorStage(t, "new", `{"data": {"*": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "spam", "edits": [{"op": "add_header", "name": "X-Dry", "value": "1"}]}}}`, "dry_run = true")))
	res, err := Replay(context.Background(), c, []byte("From: a@example.net\r\nTo: b@sluice.test\r\nSubject: x\r\n\r\nx\r\n"),
		ReplayOptions{Self: self, ClientIP: "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != "continue" || strings.Contains(res.Message, "X-Dry") {
		t.Errorf("outcome %q, message:\n%s", res.Outcome, res.Message)
	}
	e := res.Trace[len(res.Trace)-1]
	if e.Stage != "new" || e.Action != "dry run: would reject" || !strings.HasPrefix(e.Reply, "550 5.7.1 spam") || !e.DryRun {
		t.Errorf("trace %+v", res.Trace)
	}
}

// A submission listener whose only auth stage is in dry run can
// authenticate no one (the stage's accept authenticates nobody), so
// check-config warns about it as if there were no auth stage.
func TestDryRunAuthStageWarns(t *testing.T) {
	noop := testlib.Build(t, "./examples/noop")
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	for _, dry := range []bool{false, true} {
		src := fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\n[dns]\nservers = [\"127.0.0.1:1\"]\n", t.TempDir()) +
			fmt.Sprintf("[[listener]]\nname = \"sub\"\nlisten = \"127.0.0.1:0\"\nkind = \"submission\"\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile) +
			fmt.Sprintf("[[stage]]\nname = \"authz\"\nplugin = %q\ndry_run = %v\n", noop, dry)
		c, err := config.Parse(filepath.Join(t.TempDir(), "sluice.toml"), []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Check(c, "")
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(res.Warnings, "\n")
		if warned := strings.Contains(got, "listener sub (submission) requires AUTH"); warned != dry {
			t.Errorf("dry_run %v: warned %v; warnings:\n%s", dry, warned, got)
		}
	}
}
