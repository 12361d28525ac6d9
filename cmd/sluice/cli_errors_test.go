package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// runErr runs the command in-process and returns its exit code, stdout
// and stderr.
func runErr(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

// wantUserError checks that a command is refused as a user error: exit 1
// and one line on stderr that contains each of want.
func wantUserError(t *testing.T, args []string, want ...string) {
	t.Helper()
	code, _, stderr := runErr(args...)
	if code != exitUser || strings.Count(stderr, "\n") != 1 {
		t.Errorf("sluice %s: exit %d, stderr %q; want exit 1 and one line", strings.Join(args, " "), code, stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			t.Errorf("sluice %s: stderr %q lacks %q", strings.Join(args, " "), stderr, w)
		}
	}
}

// adminServer serves the admin API over a real queue of n messages and
// counts the requests it gets.
func adminServer(t *testing.T, n int) (url string, ids []string, q *queue.Store, requests *atomic.Int64) {
	t.Helper()
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	for range n {
		m := &envelope.Message{ID: q.NewID(), From: "a@example.org", Received: time.Now(),
			Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
		tr := fmt.Sprintf(`{"id":%q,"entries":[],"outcome":"continue"}`, m.ID)
		if err := q.EnqueueTraced(m, []byte("x"), []byte(tr)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	h := admin.Handler(admin.Options{Queue: q, NotFound: queue.ErrNotFound, Trace: q.Trace, Logger: slog.New(slog.DiscardHandler),
		Conflicts: []error{queue.ErrNotHeld, queue.ErrNotActive}})
	requests = &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, ids, q, requests
}

// replay refuses what it cannot replay with exit 1 and a one-line reason
// instead of printing a reject with a blank hook and reply.
func TestReplayRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(`hostname = "mx.sluice.test"
data_dir = "data"
[dns]
servers = ["127.0.0.1:1"]
[[listener]]
listen = "127.0.0.1:0"
`), 0o600)
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	good := file("good.eml", "From: a@example.org\nTo: b@example.net\nSubject: hi\n\nhi\n")
	for _, tc := range []struct{ name, content, want string }{
		{"empty.eml", "", "empty"},
		{"binary.eml", "\x7fELF\x02\x01\x01\x00\x00\x00:\n\x00\x00", "binary"},
		{"body.eml", "just some text\nno header\n", "header"},
		{"norcpt.eml", "From: a@example.org\nSubject: hi\n\nhi\n", "--to"},
		{"group.eml", "From: a@example.org\nTo: undisclosed-recipients:;\n\nhi\n", "--to"},
	} {
		wantUserError(t, []string{"replay", "-c", cfg, file(tc.name, tc.content)}, tc.name, tc.want)
	}
	// Without the message, the usage names every flag, as -h does.
	wantUserError(t, []string{"replay", "-c", cfg}, "usage: sluice replay", "[--helo NAME]")
	wantUserError(t, []string{"replay", "-c", cfg, good, "--ip", "notanip"}, "--ip", "notanip")
	wantUserError(t, []string{"replay", "-c", cfg, good, "--ip", "300.1.1.1"}, "--ip")
	wantUserError(t, []string{"replay", "-c", cfg, good, "--from", "not an address"}, "--from", "not an address")
	wantUserError(t, []string{"replay", "-c", cfg, good, "--to", "bob"}, "--to", "bob")
	wantUserError(t, []string{"replay", "-c", cfg, good, "--to", "b@example.net", "--to", "bob@"}, "--to", "bob@")
	wantUserError(t, []string{"replay", "-c", cfg, good, "--to", "bob@-bad-.example"}, "--to", "domain")

	// What is well formed still replays: --to for a message without a
	// recipient, angle brackets, an IPv6 client, the null sender.
	out := runCLI(t, "replay", "-c", cfg, filepath.Join(dir, "norcpt.eml"), "--to", "<c@example.net>", "--ip", "::1")
	if !strings.Contains(out, "envelope: from <a@example.org> to <c@example.net>") || !strings.Contains(out, "outcome: continue") {
		t.Fatalf("replay with --to:\n%s", out)
	}
	for _, from := range []string{"", "<>"} {
		if out := runCLI(t, "replay", "-c", cfg, good, "--from", from); !strings.Contains(out, "outcome: continue") {
			t.Fatalf("--from %q:\n%s", from, out)
		}
	}
	if out := runCLI(t, "replay", "-c", cfg, good, "--from", "<>"); !strings.Contains(out, "envelope: from <> to <b@example.net>") {
		t.Fatalf("--from <> shown as:\n%s", out)
	}
	// Stages get the null sender as MAIL FROM:<> gives it: empty.
	if out := runCLI(t, "replay", "-c", cfg, good, "--from", "<>", "--json"); !strings.Contains(out, `"mail_from": ""`) {
		t.Fatalf("--from <> --json:\n%s", out)
	}
}

// A message ID is checked before it goes into an admin URL: "../pipeline"
// must not show the pipeline as a message, and no request is made.
func TestMessageIDsChecked(t *testing.T) {
	url, ids, _, requests := adminServer(t, 1)
	for _, id := range []string{"../pipeline", "../queue", "", "a/b", "x%2Fy", "33p7vq4xvpsr61ayyq6g", ids[0] + "0", "OOOOOOOOOOOOOOOOOOOO"} {
		for _, args := range [][]string{{"queue", "show", id}, {"queue", "hold", id}, {"queue", "delete", id}, {"trace", id}, {"trace", id, "--json"}} {
			wantUserError(t, append(args, "--admin", url), "not a message ID")
		}
	}
	wantUserError(t, []string{"queue", "list", "--after", "../x", "--admin", url}, "--after")
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests made with malformed IDs", n)
	}
	// An unknown but well-formed ID is named in the error.
	unknown := "0123456789ABCDEFGHJK"
	for _, args := range [][]string{{"queue", "show", unknown}, {"queue", "retry", unknown}, {"trace", unknown}} {
		wantUserError(t, append(args, "--admin", url), unknown, "no such message")
	}
	if out := runCLI(t, "queue", "show", ids[0], "--admin", url); !strings.Contains(out, "id:           "+ids[0]) {
		t.Fatalf("queue show:\n%s", out)
	}
	if out := runCLI(t, "queue", "hold", ids[0], "--admin", url); out != ids[0]+": hold ok\n" {
		t.Fatalf("queue hold: %q", out)
	}
}

// trace --json prints like queue --json: indented, ending in a newline.
func TestTraceJSONLikeQueueJSON(t *testing.T) {
	url, ids, _, _ := adminServer(t, 1)
	for _, args := range [][]string{{"trace", ids[0]}, {"queue", "show", ids[0]}, {"queue", "list"}} {
		out := runCLI(t, append(args, "--json", "--admin", url)...)
		var v map[string]any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if !strings.HasPrefix(out, "{\n  \"") || !strings.HasSuffix(out, "\n}\n") {
			t.Errorf("%v --json not indented with a final newline: %q", args, out)
		}
	}
}

// queue list --all --json is one document of the single page's shape.
func TestQueueListAllOneDocument(t *testing.T) {
	url, ids, q, _ := adminServer(t, 5)
	if err := q.Hold(ids[3]); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "queue", "list", "--all", "--json", "--limit", "2", "--admin", url)
	dec := json.NewDecoder(strings.NewReader(out))
	var l admin.QueueList
	if err := dec.Decode(&l); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", out)
	}
	if len(l.Messages) != 5 || l.Messages[0].ID != ids[0] || l.Messages[4].ID != ids[4] || l.Next != "" ||
		l.Counts[envelope.StateActive] != 4 || l.Counts[envelope.StateHeld] != 1 || l.Domains["example.net"] != 5 {
		t.Fatalf("--all --json: %d messages, next %q, counts %v, domains %v", len(l.Messages), l.Next, l.Counts, l.Domains)
	}
	if !strings.HasSuffix(out, "\n}\n") {
		t.Errorf("no final newline: %q", out[len(out)-10:])
	}
	out = runCLI(t, "queue", "list", "--all", "--json", "--state", "quarantined", "--admin", url)
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Messages) != 0 || l.Messages == nil {
		t.Fatalf("empty --all --json: %v\n%s", err, out)
	}
}

// queue list --all's text columns line up from page to page (the first
// page's header made its columns wider than the later pages').
func TestQueueListAllColumnsAlign(t *testing.T) {
	url, _, q, _ := adminServer(t, 5)
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org", State: envelope.StateQuarantined, Received: time.Now(),
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	out := runCLI(t, "queue", "list", "--all", "--limit", "2", "--admin", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 8 { // header, six messages, summary
		t.Fatalf("--all:\n%s", out)
	}
	col := strings.Index(lines[0], "FROM")
	for _, l := range lines[1:7] {
		if strings.Index(l, "a@example.org") != col {
			t.Fatalf("columns not aligned across pages:\n%s", out)
		}
	}
}

// -h and --help print the command's usage on stdout and exit 0.
func TestSubcommandHelp(t *testing.T) {
	for _, args := range [][]string{{"queue", "-h"}, {"queue", "--help"}, {"queue", "show", "-h"}, {"trace", "-h"},
		{"replay", "--help"}, {"reload", "-h"}, {"version", "-h"}, {"user", "-h"}, {"user", "add", "--help"},
		{"dkim", "-h"}, {"dkim", "keygen", "-h"}, {"plugin", "--help"}, {"plugin", "serve", "-h"}, {"plugin", "serve", "--help"},
		{"plugin", "list", "-h"}, {"serve", "-h"}, {"check-config", "--help"}} {
		code, out, stderr := runErr(args...)
		if code != exitOK || stderr != "" || !strings.HasPrefix(out, "usage: sluice "+args[0]) {
			t.Errorf("sluice %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, stderr)
		}
	}
	if _, out, _ := runErr("queue", "-h"); !strings.Contains(out, "-json") || !strings.Contains(out, "-limit") {
		t.Errorf("queue -h does not list the flags:\n%s", out)
	}
}

// Arguments a command does not take are refused, not ignored.
func TestExtraArgumentsRefused(t *testing.T) {
	wantUserError(t, []string{"version", "extra"}, "version takes no arguments")
	wantUserError(t, []string{"check-config", "-c", "x.toml", "extra"}, "check-config takes no arguments")
	wantUserError(t, []string{"--version", "extra"}, "version takes no arguments")
	for _, sub := range []string{"list", "flush"} {
		wantUserError(t, []string{"queue", sub, "extra", "--admin", "127.0.0.1:1"}, "takes no arguments")
	}
	wantUserError(t, []string{"reload", "extra", "--admin", "127.0.0.1:1"}, "takes no arguments")
}

// --admin with a scheme the admin API does not speak is a user error
// (exit 1), not an unreachable daemon (exit 2).
func TestAdminURLChecked(t *testing.T) {
	// No host name here: the old code would have looked it up.
	for _, u := range []string{"ftp://127.0.0.1:8025", "file:///tmp/x", "http://", "127.0.0.1", "http://[::1]x:8025"} {
		wantUserError(t, []string{"queue", "list", "--admin", u}, "--admin")
		wantUserError(t, []string{"trace", "0123456789ABCDEFGHJK", "--admin", u}, "--admin")
	}
	url, _, _, _ := adminServer(t, 0)
	for _, u := range []string{url, url + "/", strings.TrimPrefix(url, "http://")} {
		if out := runCLI(t, "queue", "list", "--admin", u); !strings.Contains(out, "queue is empty") {
			t.Errorf("--admin %s: %q", u, out)
		}
	}
	if code, _, _ := runErr("queue", "list", "--admin", "http://127.0.0.1:1"); code != exitUnreachable {
		t.Errorf("unreachable daemon: exit %d", code)
	}
}

// sendmail names each refused recipient once, with its reply, and ends
// with one line that does not repeat it.
func TestSendmailRefusalPrintedOnce(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", sink.Addr)
	for _, tc := range []struct {
		code int
		enh  smtp.EnhancedCode
		exit int
	}{{550, smtp.EnhancedCode{5, 1, 1}, exNoUser}, {554, smtp.EnhancedCode{5, 7, 1}, exNoPerm}, {451, smtp.EnhancedCode{4, 7, 1}, exTempFail}} {
		sink.OnRcpt(func(r string) error {
			if strings.HasPrefix(r, "bad") {
				return &smtp.SMTPError{Code: tc.code, EnhancedCode: tc.enh, Message: "refused here"}
			}
			return nil
		})
		var errb bytes.Buffer
		code := run([]string{"sendmail", "-i", "ok@remote.test", "bad@remote.test"}, strings.NewReader("Subject: x\n\nhi\n"), &bytes.Buffer{}, &errb)
		stderr := errb.String()
		reply := fmt.Sprintf("%d %d.%d.%d refused here", tc.code, tc.enh[0], tc.enh[1], tc.enh[2])
		if code != tc.exit || strings.Count(stderr, "refused here") != 1 || !strings.Contains(stderr, "<bad@remote.test>: "+reply) ||
			strings.Count(stderr, "\n") != 2 || !strings.Contains(stderr, "message not sent") {
			t.Errorf("%s: exit %d (want %d), stderr:\n%s", reply, code, tc.exit, stderr)
		}
	}
	if n := len(sink.Deliveries()); n != 0 {
		t.Errorf("sink got %d messages", n)
	}
}

// When a stage refuses every recipient, the outcome line names the rcpt
// hook (not a blank one: "reject at : …") and the replay itself succeeds.
func TestReplayEveryRecipientRefused(t *testing.T) {
	actor := testlib.Build(t, "./internal/testplugins/actor")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sluice.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = "data"
[dns]
servers = ["127.0.0.1:1"]
[[listener]]
listen = "127.0.0.1:0"
[[stage]]
name = "gate"
plugin = %q
[stage.config]
json = '{"rcpt": {"*": {"action": "reject", "code": 550, "enhanced": "5.1.1", "text": "unknown user"}}}'
`, actor)), 0o600)
	msg := filepath.Join(dir, "msg.eml")
	os.WriteFile(msg, []byte("From: a@example.org\nTo: b@example.net\nSubject: hi\n\nhi\n"), 0o600)
	out := runCLI(t, "replay", "-c", cfg, msg)
	if !strings.Contains(out, "outcome: reject at rcpt: no recipient accepted: b@example.net: 550 5.1.1 unknown user\n") || strings.Contains(out, " at :") {
		t.Fatalf("replay:\n%s", out)
	}
}

// --admin is checked whole before the daemon is asked: a port out of
// range or an empty value is a user error (exit 1), not an unreachable
// daemon nor the default address; --limit 0 is refused as -1 is.
func TestAdminAndLimitFlagsChecked(t *testing.T) {
	url, _, _, requests := adminServer(t, 0)
	const want = "; want host:port or http(s)://host:port\n"
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"queue", "list", "--admin", "127.0.0.1:99999"}, `sluice: --admin "127.0.0.1:99999": port "99999" must be a number from 1 to 65535` + want},
		{[]string{"queue", "list", "--admin", "http://127.0.0.1:0"}, `sluice: --admin "http://127.0.0.1:0": port "0" must be a number from 1 to 65535` + want},
		{[]string{"reload", "--admin", "127.0.0.1:"}, `sluice: --admin "127.0.0.1:": port "" must be a number from 1 to 65535` + want},
		{[]string{"queue", "list", "--admin", ""}, "sluice: --admin needs a URL: host:port or http(s)://host:port\n"},
		{[]string{"trace", "0123456789ABCDEFGHJK", "--admin="}, "sluice: --admin needs a URL: host:port or http(s)://host:port\n"},
		{[]string{"queue", "list", "--limit", "0", "--admin", url}, "sluice: --limit 0: want a positive number of messages\n"},
		{[]string{"queue", "list", "--limit", "-1", "--admin", url}, "sluice: --limit -1: want a positive number of messages\n"},
	} {
		code, _, stderr := runErr(tc.args...)
		if code != exitUser || stderr != tc.stderr {
			t.Errorf("sluice %q: exit %d, stderr %q\nwant exit 1, %q", tc.args, code, stderr, tc.stderr)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the daemon was asked %d times", n)
	}
	// A URL without a port takes its scheme's.
	for _, u := range []string{"http://127.0.0.1", "https://localhost/", "localhost:8025"} {
		if err := checkAdminURL(u); err != nil {
			t.Errorf("--admin %s: %v", u, err)
		}
	}
}

// Messages from the daemon name the message once; a reload the daemon
// never saw is reported as the unreachable daemon it is, not as refused;
// an address that answers with something other than the admin API's JSON
// is one line saying so.
func TestDaemonAnswersOneClearLine(t *testing.T) {
	url, ids, _, _ := adminServer(t, 1)
	code, _, stderr := runErr("queue", "release", ids[0], "--admin", url)
	if want := "sluice: message " + ids[0] + ": not held; retry it to deliver it now\n"; code != exitUser || stderr != want {
		t.Errorf("release: exit %d, stderr %q\nwant exit 1, %q", code, stderr, want)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	code, _, stderr = runErr("reload", "--admin", closed)
	if prefix := "sluice: daemon unreachable at http://" + closed + ": "; code != exitUnreachable || !strings.HasPrefix(stderr, prefix) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("reload: exit %d, stderr %q\nwant exit 2, %q…", code, stderr, prefix)
	}

	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		if r.URL.Path != "/api/queue" {
			w.WriteHeader(http.StatusNotFound)
		}
		io.WriteString(w, "<!DOCTYPE html>\n<html>\n<h1>It works</h1>\n</html>\n")
	}))
	t.Cleanup(web.Close)
	for _, tc := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"queue", "list", "--admin", web.URL}, "sluice: admin API at " + web.URL + " answered 200 OK, not JSON: is this Sluice's admin address?\n"},
		{[]string{"queue", "show", ids[0], "--admin", web.URL}, "sluice: admin API at " + web.URL + " answered 404 Not Found, not JSON: is this Sluice's admin address?\n"},
		{[]string{"reload", "--admin", web.URL}, "sluice: admin API at " + web.URL + " answered 404 Not Found, not JSON: is this Sluice's admin address?\n"},
	} {
		code, _, stderr := runErr(tc.args...)
		if code != exitUser || stderr != tc.stderr {
			t.Errorf("sluice %q: exit %d, stderr %q\nwant exit 1, %q", tc.args, code, stderr, tc.stderr)
		}
	}
}

// An address that answers in another protocol is reachable: the wrong
// address, a user error (exit 1) as another web server's page is, not
// "daemon unreachable" (exit 2, which a script may read as "restart the
// daemon"). Sluice's SMTP listener given as --admin is the likely one; an
// https:// URL for the plain-HTTP API, and https:// to an SMTP server, too.
func TestAdminAddressOtherProtocol(t *testing.T) {
	url, ids, _, _ := adminServer(t, 1)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	https := "https://" + strings.TrimPrefix(url, "http://")
	for _, tc := range []struct {
		args  []string
		where string
	}{
		{[]string{"queue", "list", "--admin", sink.Addr}, "http://" + sink.Addr},
		{[]string{"queue", "cat", ids[0], "--admin", sink.Addr}, "http://" + sink.Addr},
		{[]string{"reload", "--admin", sink.Addr}, "http://" + sink.Addr},
		{[]string{"trace", ids[0], "--admin", https}, https},
		{[]string{"queue", "list", "--admin", "https://" + sink.Addr}, "https://" + sink.Addr},
	} {
		code, _, stderr := runErr(tc.args...)
		prefix := "sluice: admin API at " + tc.where + " answered in another protocol ("
		suffix := "): is this Sluice's admin address?\n"
		if code != exitUser || !strings.HasPrefix(stderr, prefix) || !strings.HasSuffix(stderr, suffix) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("sluice %q: exit %d, stderr %q\nwant exit 1, %q…%q", tc.args, code, stderr, prefix, suffix)
		}
	}
}
