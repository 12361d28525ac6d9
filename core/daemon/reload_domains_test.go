package daemon

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A reload applies local_domains, relay_networks, [limits] and [log] level,
// without the restart warning: a domain added is accepted at once (in a
// session already open too), a network taken out of relay_networks stops
// relaying, a lowered max_recipients applies at the next RCPT, and the
// level is the file's. [log] format still needs a restart.
func TestReloadAppliesDomainsLimitsAndLogLevel(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	started := reloadBase(dataDir, mxListener)
	edited := strings.NewReplacer(
		`local_domains = ["sluice.test"]`, `local_domains = ["sluice.test", "other.test"]`,
		`relay_networks = ["127.0.0.0/8"]`, `relay_networks = []`,
		"[limits]\n", "[limits]\nmax_recipients = 2\n",
	).Replace(started) + "[log]\nlevel = \"debug\"\n"
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(started), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuf
	log, level := NewLevelLogger(c.Log, &buf)
	d, err := Start(Options{Config: c, Logger: log, LogLevel: level, DrainTimeout: 5 * time.Second, ConfigPath: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })

	s := dialSMTP(t, d.SMTPAddrs()["mx"].String())
	s.cmd(t, "EHLO client.test", "250")
	s.cmd(t, "MAIL FROM:<a@sluice.test>", "250")
	s.cmd(t, "RCPT TO:<b@other.test>", "250") // relayed: 127.0.0.1 may relay
	if level.Level() != slog.LevelInfo {
		t.Fatalf("level %v before the reload, want INFO", level.Level())
	}

	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	s.cmd(t, "RCPT TO:<d@elsewhere.test>", "554") // no longer relayed
	s.cmd(t, "RCPT TO:<c@other.test>", "250")     // now a local domain
	s.cmd(t, "RCPT TO:<e@other.test>", "452")     // max_recipients = 2
	if level.Level() != slog.LevelDebug {
		t.Errorf("level %v after the reload, want DEBUG", level.Level())
	}
	if l := buf.String(); strings.Contains(l, "next restart") {
		t.Errorf("reload warned about a restart:\n%s", l)
	}

	// A format change is not applied, and says so.
	if err := os.WriteFile(path, []byte(edited+"format = \"json\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if l := buf.String(); !strings.Contains(l, `msg="changed settings take effect at the next restart" keys=[log.format]`) {
		t.Errorf("no restart warning for log.format:\n%s", l)
	}
}

// A reload reads [auth] again, without the restart warning; a
// senders_file that does not load refuses it at the key's line, and the
// running config stays.
func TestReloadAuth(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	d, path := startFile(t, reloadBase(dataDir, mxListener))
	dir := filepath.Dir(path)
	if err := os.WriteFile(filepath.Join(dir, "senders"), []byte("bob: bob@sluice.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := reloadBase(dataDir, mxListener+"[auth]\nsenders_file = \"senders\"\n")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	bad := reloadBase(dataDir, mxListener+"[auth]\nsenders_file = \"missing\"\n")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.Count(bad[:strings.Index(bad, "senders_file")], "\n") + 1
	err := d.ReloadFile()
	if want := fmt.Sprintf("%s:%d:", path, line); err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("reload with a missing senders_file: %v, want it refused at %s", err, want)
	}
	if got := d.cfg.Auth.SendersFile; got != "senders" {
		t.Errorf("running senders_file %q after the refused reload, want senders", got)
	}
}
