package main

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// useInstalledConfig points the commands' installed config at path for
// this test.
func useInstalledConfig(t *testing.T, path string) {
	old := installedConfig
	installedConfig = path
	t.Cleanup(func() { installedConfig = old })
}

// writeClientConfig writes the embedded default with the admin API on
// adminAddr behind token, and the mx listener on mxAddr.
func writeClientConfig(t *testing.T, adminAddr, token, mxAddr string) string {
	s := string(config.DefaultTOML())
	s = strings.Replace(s, `listen = "127.0.0.1:8025"`, `listen = "`+adminAddr+`"`+"\ntoken = \""+token+`"`, 1)
	s = strings.Replace(s, `listen = "127.0.0.1:2525"`, `listen = "`+mxAddr+`"`, 1)
	p := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tokenDaemon is an admin API with one queued message, on an address and
// behind a token that only a config file names.
func tokenDaemon(t *testing.T) (addr, id string) {
	q, err := queue.Open(t.TempDir(), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close() })
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org",
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, []byte("x")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(admin.Handler(admin.Options{Queue: q, Token: "s3cret", Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	t.Setenv("SLUICE_ADMIN_TOKEN", "")
	return srv.Listener.Addr().String(), m.ID
}

// Without -c or --admin, mailq and queue list find the daemon through
// the installed config: its admin address and its token.
func TestInstalledConfigFindsTheDaemon(t *testing.T) {
	addr, id := tokenDaemon(t)
	useInstalledConfig(t, writeClientConfig(t, addr, "s3cret", "127.0.0.1:2525"))
	for _, name := range []string{"mailq", "sluice"} {
		args := []string{"queue", "list"}
		if name == "mailq" {
			args = nil
		}
		var out, errb bytes.Buffer
		if code := runAs(name, args, nil, &out, &errb); code != exitOK || !strings.Contains(out.String(), id) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", name, code, out.String(), errb.String())
		}
	}
}

// $SLUICE_CONFIG names the file instead of the installed one; a file it
// names must be there.
func TestSluiceConfigEnv(t *testing.T) {
	addr, id := tokenDaemon(t)
	useInstalledConfig(t, filepath.Join(t.TempDir(), "missing", "sluice.toml"))
	t.Setenv("SLUICE_CONFIG", writeClientConfig(t, addr, "s3cret", "127.0.0.1:2525"))
	if code, out, stderr := runErr("queue", "list"); code != exitOK || !strings.Contains(out, id) {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	missing := filepath.Join(t.TempDir(), "nope.toml")
	t.Setenv("SLUICE_CONFIG", missing)
	wantUserError(t, []string{"queue", "list"}, missing, "$SLUICE_CONFIG", "no such file")
}

// An installed config that is there but cannot be read or parsed is one
// line naming it, exit 1, not the embedded default.
func TestInstalledConfigBroken(t *testing.T) {
	dir := t.TempDir()
	asDir := filepath.Join(dir, "dir.toml")
	if err := os.Mkdir(asDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dangling := filepath.Join(dir, "dangling.toml")
	if err := os.Symlink(filepath.Join(dir, "gone.toml"), dangling); err != nil {
		t.Fatal(err)
	}
	invalid := filepath.Join(dir, "invalid.toml")
	if err := os.WriteFile(invalid, []byte("hostname = \"x\"\nbogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		asDir:    asDir + " (the installed config, read without -c): is a directory",
		dangling: dangling + " (the installed config, read without -c): no such file",
		invalid:  invalid + ":2:",
	} {
		useInstalledConfig(t, path)
		wantUserError(t, []string{"queue", "list"}, want)
		wantUserError(t, []string{"reload"}, want)
		wantUserError(t, []string{"trace", "00000000000000000000"}, want)
	}
}

// -c FILE and --admin URL win over an installed config, even a broken one.
func TestFlagsWinOverInstalledConfig(t *testing.T) {
	addr, id := tokenDaemon(t)
	good := writeClientConfig(t, addr, "s3cret", "127.0.0.1:2525")
	invalid := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(invalid, []byte("bogus = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	useInstalledConfig(t, invalid)
	if code, out, stderr := runErr("queue", "list", "-c", good); code != exitOK || !strings.Contains(out, id) {
		t.Errorf("-c: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	t.Setenv("SLUICE_ADMIN_TOKEN", "s3cret")
	if code, out, stderr := runErr("queue", "list", "--admin", addr); code != exitOK || !strings.Contains(out, id) {
		t.Errorf("--admin: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	// And $SLUICE_CONFIG over the installed config.
	t.Setenv("SLUICE_ADMIN_TOKEN", "")
	t.Setenv("SLUICE_CONFIG", good)
	if code, out, stderr := runErr("queue", "list"); code != exitOK || !strings.Contains(out, id) {
		t.Errorf("$SLUICE_CONFIG: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// sendmail submits to the installed config's listener; $SLUICE_SMTP
// still wins, without reading it (a user may not be allowed to).
func TestSendmailInstalledConfig(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", "")
	useInstalledConfig(t, writeClientConfig(t, "127.0.0.1:8025", "", sink.Addr))
	send := func(rcpt string) (int, string) {
		var errb bytes.Buffer
		code := runAs("sendmail", []string{rcpt}, strings.NewReader("Subject: x\n\nhi\n"), &bytes.Buffer{}, &errb)
		return code, errb.String()
	}
	if code, stderr := send("one@remote.test"); code != exOK {
		t.Fatalf("installed config: exit %d: %s", code, stderr)
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; got.Rcpts[0] != "one@remote.test" {
		t.Fatalf("rcpts %v", got.Rcpts)
	}

	broken := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.Mkdir(broken, 0o755); err != nil {
		t.Fatal(err)
	}
	useInstalledConfig(t, broken)
	if code, stderr := send("two@remote.test"); code != exUsage || !strings.Contains(stderr, broken+" (the installed config") {
		t.Fatalf("broken installed config: exit %d: %q", code, stderr)
	}
	t.Setenv("SLUICE_SMTP", sink.Addr)
	if code, stderr := send("three@remote.test"); code != exOK {
		t.Fatalf("$SLUICE_SMTP: exit %d: %s", code, stderr)
	}
	if got := sink.WaitN(t, 2, 10*time.Second)[1]; got.Rcpts[0] != "three@remote.test" {
		t.Fatalf("rcpts %v", got.Rcpts)
	}
}
