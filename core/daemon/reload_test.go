package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// reloadBase is a daemon config whose listeners and pipeline come from
// extra; the rest stays the same across reloads.
func reloadBase(dataDir, extra string) string {
	return fmt.Sprintf(`
hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
[limits]
message_rate_per_sender = { per_minute = -1 }
%s
`, dataDir, extra)
}

const mxListener = "[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"

// startFile writes src to a config file and starts a daemon on it, with
// Options.ConfigPath set so that ReloadFile reads it again.
func startFile(t *testing.T, src string) (*Daemon, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	log := discardLog()
	if testing.Verbose() {
		log = NewLogger(config.Log{Format: "text"}, testWriter{t})
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(Options{Config: c, Logger: log, DrainTimeout: 5 * time.Second, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d, path
}

func prefixStage(t *testing.T, name string) string {
	return actorStage(t, name, fmt.Sprintf(
		`{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": "[%s]", "prefix": true}]}}}`, name), "")
}

// TestReloadReorderUnderLoad: clients send continuously while the pipeline
// is reloaded in the reversed order. No transaction fails, every accepted
// message is delivered, messages of sessions opened after the reload show
// the new order, and the old pipeline is let go once its last session is
// over — while its stages, which the reload left as they were (only their
// order changed), run on in the new one, not restarted, counters intact.
func TestReloadReorderUnderLoad(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	ab := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "a")+prefixStage(t, "b"))
	ba := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "b")+prefixStage(t, "a"))
	d, path := startFile(t, ab)
	addr := d.SMTPAddrs()["mx"].String()
	oldGen := d.live.current()

	const clients, perClient = 8, 25
	var (
		sent     atomic.Int64
		reloaded atomic.Bool
		mu       sync.Mutex
		failures []string
		after    = map[string]bool{} // subject → session began after the reload
		wg       sync.WaitGroup
	)
	half := make(chan struct{})
	var halfOnce sync.Once
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				subj := fmt.Sprintf("m-%d-%d", c, i)
				began := reloaded.Load()
				_, err := testlib.Send(addr, "alice@sluice.test", []string{"bob@remote.test"},
					testlib.Message("alice@sluice.test", "bob@remote.test", subj, "load"))
				mu.Lock()
				if err != nil {
					failures = append(failures, subj+": "+err.Error())
				} else {
					after[subj] = began
				}
				mu.Unlock()
				if sent.Add(1) == clients*perClient/2 {
					halfOnce.Do(func() { close(half) })
				}
			}
		}()
	}
	<-half
	if err := os.WriteFile(path, []byte(ba), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	reloaded.Store(true)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d failed transactions, first: %s", len(failures), failures[0])
	}

	got := sink.WaitN(t, clients*perClient, 30*time.Second)
	var nAfter int
	for _, dl := range got {
		data := string(dl.Data)
		i := strings.Index(data, "Subject: ")
		line := data[i+len("Subject: "):]
		line = line[:strings.Index(line, "\r\n")]
		subj := line[strings.LastIndex(line, "]")+1:]
		began, ok := after[subj]
		if !ok {
			t.Fatalf("delivered %q was never accepted", subj)
		}
		delete(after, subj)
		switch {
		case began && line != "[a][b]"+subj:
			t.Errorf("%s: sent after the reload but Subject %q, want the new order [a][b]", subj, line)
		case line != "[a][b]"+subj && line != "[b][a]"+subj:
			t.Errorf("%s: Subject %q: not one pipeline's work", subj, line)
		}
		if began {
			nAfter++
		}
	}
	if len(after) != 0 {
		t.Fatalf("%d accepted messages not delivered", len(after))
	}
	if nAfter == 0 {
		t.Fatal("no message was sent after the reload")
	}
	waitEmpty(t, d)

	// The old generation is closed once its last session ended.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.live.mu.Lock()
		refs, retired := oldGen.refs, oldGen.retired
		d.live.mu.Unlock()
		if retired && refs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old pipeline: retired %v, %d sessions", retired, refs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.live.closing.Wait()
	for _, s := range d.pipe().Status() {
		// Every message went through both stages, before the reload or
		// after: one process each, its counters carried over.
		if s.State != "running" || s.Restarts != 0 || s.Calls < clients*perClient {
			t.Errorf("stage %s after the reload: %+v, want the same process running, with every call counted", s.Name, s)
		}
	}
}

// A stage whose config a reload changes gets a new process; the old one
// stops once the old pipeline's last session is over. The stage left alone
// keeps its process.
func TestReloadRestartsOnlyChangedStages(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	before := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "a")+prefixStage(t, "b"))
	changed := actorStage(t, "b", `{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": "[B]", "prefix": true}]}}}`, "")
	after := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "a")+changed)
	d, path := startFile(t, before)
	oldGen := d.live.current()
	if err := os.WriteFile(path, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	d.live.closing.Wait() // no session held the old pipeline: it is let go at once
	oldStages, newStages := oldGen.stages, d.live.current().stages
	if oldStages[0] != newStages[0] {
		t.Error("stage a, unchanged, was restarted")
	}
	if oldStages[1] == newStages[1] {
		t.Fatal("stage b, changed, kept its old process")
	}
	if st, _ := oldStages[1].(*sharedStage).Health(); st == "running" {
		t.Errorf("the old process of stage b is %s, want it stopped", st)
	}
	if st, _ := newStages[0].(*sharedStage).Health(); st != "running" {
		t.Errorf("stage a is %s after the reload", st)
	}
	if _, err := send(t, d, "after"); err != nil {
		t.Fatal(err)
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; !strings.Contains(string(got.Data), "Subject: [B][a]after") {
		t.Fatalf("delivered:\n%s", got.Data)
	}
}

// A config that does not validate, or whose stage cannot start, is
// refused with its error, by ReloadFile and by POST /api/reload, and the
// running pipeline goes on.
func TestReloadBrokenConfigRefused(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	good := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "a"))
	d, path := startFile(t, good)

	broken := "colour = \"blue\"\n" + good
	if err := os.WriteFile(path, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	want := path + ":1: unknown key colour"
	if err := d.ReloadFile(); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("ReloadFile = %v, want %s…", err, want)
	}
	resp, err := http.Post("http://"+d.AdminAddr().String()+"/api/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(body), want) {
		t.Fatalf("POST /api/reload: %d %s", resp.StatusCode, body)
	}

	// Valid, but a stage cannot start: refused too, nothing changes.
	cannot := reloadBase(dataDir, mxListener+"[[listener]]\nname = \"extra\"\nlisten = \"127.0.0.1:0\"\n"+
		relayTo(sink)+actorStage(t, "broken", `{"fail_start": true}`, ""))
	if err := os.WriteFile(path, []byte(cannot), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err == nil || !strings.Contains(err.Error(), `stage "broken"`) {
		t.Fatalf("ReloadFile with a failing stage = %v", err)
	}
	if _, ok := d.SMTPAddrs()["extra"]; ok {
		t.Fatal("a refused reload added a listener")
	}

	if _, err := send(t, d, "still"); err != nil {
		t.Fatal(err)
	}
	if got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data); !strings.Contains(got, "Subject: [a]still\r\n") {
		t.Fatalf("the running pipeline did not run:\n%s", got)
	}
}

// A listener added by a reload accepts connections; one removed by the
// next stops accepting, while a transaction in flight on it completes and
// its message is delivered.
func TestReloadListeners(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	one := reloadBase(dataDir, mxListener+relayTo(sink))
	two := reloadBase(dataDir, mxListener+"[[listener]]\nname = \"extra\"\nlisten = \"127.0.0.1:0\"\n"+relayTo(sink))
	d, path := startFile(t, one)
	mxAddr := d.SMTPAddrs()["mx"].String()

	if err := os.WriteFile(path, []byte(two), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := d.SMTPAddrs()["mx"].String(); got != mxAddr {
		t.Fatalf("unchanged listener moved from %s to %s", mxAddr, got)
	}
	extra, ok := d.SMTPAddrs()["extra"]
	if !ok {
		t.Fatal("new listener not bound")
	}
	if _, err := testlib.Send(extra.String(), "alice@sluice.test", []string{"bob@remote.test"},
		testlib.Message("alice@sluice.test", "bob@remote.test", "via-extra", "hi")); err != nil {
		t.Fatalf("new listener: %v", err)
	}

	// A transaction left in DATA on the listener about to go.
	c := dialSMTP(t, extra.String())
	c.cmd(t, "EHLO client.test", "250")
	c.cmd(t, "MAIL FROM:<alice@sluice.test>", "250")
	c.cmd(t, "RCPT TO:<bob@remote.test>", "250")
	c.cmd(t, "DATA", "354")
	c.write(t, "Subject: in-flight\r\n\r\npart one\r\n")

	if err := os.WriteFile(path, []byte(one), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.SMTPAddrs()["extra"]; ok {
		t.Fatal("removed listener still bound")
	}
	if nc, err := net.Dial("tcp", extra.String()); err == nil {
		nc.Close()
		t.Fatal("removed listener still accepts")
	}
	c.write(t, "part two\r\n.\r\n")
	c.expect(t, "250")
	sink.WaitN(t, 2, 10*time.Second)
	waitEmpty(t, d)
}

// TestLogTellsTheStory: with log.format = "json", grepping the log for a
// queue id finds the line of the accepting transaction and the line of the
// delivery attempt.
func TestLogTellsTheStory(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	src := reloadBase(filepath.Join(t.TempDir(), "data"), mxListener+relayTo(sink)+"[log]\nformat = \"json\"\n")
	c := mustParse(t, src)
	var buf syncBuf
	d, err := Start(Options{Config: c, Logger: NewLogger(c.Log, &buf), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	r, err := send(t, d, "story")
	if err != nil {
		t.Fatal(err)
	}
	id := queuedID(t, r)
	sink.WaitN(t, 1, 10*time.Second)
	waitEmpty(t, d)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]any{}
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		if !strings.Contains(sc.Text(), id) { // grep ID
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("not a JSON line: %s", sc.Text())
		}
		if rec["id"] == id {
			seen[rec["msg"].(string)] = rec
		}
	}
	acc, ok := seen["message"]
	if !ok || !strings.Contains(acc["reply"].(string), "queued as "+id) || acc["from"] != "alice@sluice.test" {
		t.Errorf("no transaction line for %s: %v", id, acc)
	}
	del, ok := seen["delivery attempt"]
	if !ok || del["result"] != "delivered" {
		t.Errorf("no delivery line for %s: %v", id, del)
	}
	if t.Failed() {
		t.Logf("log:\n%s", buf.String())
	}
}

// smtpConn is a bare SMTP client for dialogs testlib.Send cannot hold open.
type smtpConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialSMTP(t *testing.T, addr string) *smtpConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s := &smtpConn{c: c, r: bufio.NewReader(c)}
	s.expect(t, "220")
	return s
}

func (s *smtpConn) write(t *testing.T, data string) {
	t.Helper()
	if _, err := io.WriteString(s.c, data); err != nil {
		t.Fatal(err)
	}
}

// expect reads a reply, skipping continuation lines, and checks its code.
func (s *smtpConn) expect(t *testing.T, code string) {
	t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if len(l) >= 4 && l[3] == '-' {
			continue
		}
		if !strings.HasPrefix(l, code) {
			t.Fatalf("got %q, want %s", l, code)
		}
		return
	}
}

func (s *smtpConn) cmd(t *testing.T, line, code string) {
	t.Helper()
	s.write(t, line+"\r\n")
	s.expect(t, code)
}

// syncBuf collects log lines from many goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// The restart warning compares the file with the settings the daemon
// runs, those it started with, not with the file read last: an edit to a
// restart-only key warns at every reload until it is reverted, and a
// reverted one no longer warns.
func TestReloadRestartWarningComparesRunningSettings(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	started := reloadBase(dataDir, mxListener)
	edited := strings.Replace(started, "message_rate_per_sender = { per_minute = -1 }", "message_rate_per_sender = { per_minute = -1 }\nclient_ipv6_prefix_length = 48", 1)
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(started), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuf
	d, err := Start(Options{Config: c, Logger: NewLogger(config.Log{Format: "text"}, &buf), DrainTimeout: 5 * time.Second, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	const warning = `level=WARN msg="changed settings take effect at the next restart" keys=[limits.client_ipv6_prefix_length]`
	for i, step := range []struct {
		src  string
		warn bool
	}{{edited, true}, {edited, true}, {started, false}, {started, false}} {
		if err := os.WriteFile(path, []byte(step.src), 0o600); err != nil {
			t.Fatal(err)
		}
		before := strings.Count(buf.String(), warning)
		if err := d.ReloadFile(); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
		if warned := strings.Count(buf.String(), warning) > before; warned != step.warn {
			t.Errorf("reload %d warned %v, want %v; log:\n%s", i+1, warned, step.warn, buf.String())
		}
	}
}

// A stage whose plugin is no Sluice plugin (it does not answer the
// handshake) refuses the reload with one line, not go-plugin's advice to
// plugin developers.
func TestReloadNotAPluginIsOneLine(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	d, path := startFile(t, reloadBase(dataDir, mxListener))
	src := reloadBase(dataDir, mxListener+"[[stage]]\nname = \"b\"\nplugin = \"/bin/true\"\n")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(src[:strings.Index(src, "plugin = ")], "\n") + 1
	want := fmt.Sprintf(`%s:%d: stage "b": plugin /bin/true: not a Sluice plugin (it did not answer the plugin handshake)`, path, line)
	if err := d.ReloadFile(); err == nil || err.Error() != want {
		t.Fatalf("ReloadFile = %v\nwant %s", err, want)
	}
}

// A changed hostname, which takes effect at the next restart,
// does not reach the stages at a reload either: plugins keep the running
// settings in their environment (and are not restarted for them), as
// Received and Authentication-Results keep the running hostname.
func TestReloadKeepsRunningHostnameForStages(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	before := reloadBase(dataDir, mxListener+relayTo(sink)+prefixStage(t, "a"))
	after := strings.Replace(before, `hostname = "mx.sluice.test"`, `hostname = "renamed.sluice.test"`, 1)
	if after == before {
		t.Fatal("hostname not found in the base config")
	}
	d, path := startFile(t, before)
	oldGen := d.live.current()
	if err := os.WriteFile(path, []byte(after), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if oldGen.stages[0] != d.live.current().stages[0] {
		t.Error("stage a was restarted for a hostname change that applies at the next restart")
	}
}
