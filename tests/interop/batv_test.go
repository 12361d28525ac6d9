//go:build interop

package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Exim's ${prvs} and ${prvscheck} expansions and the route stage's BATV
// share a secret: each takes the tags the other makes.

const batvSecret = "interop-batv-s3cret"

// eximExpand evaluates expansion with exim -be (no daemon: a config of
// its spool and log directories is enough) and returns the result.
func eximExpand(t *testing.T, expansion string) string {
	t.Helper()
	root := os.Getenv("EXIM_ROOT")
	if root == "" {
		root = defaultEximRoot
	}
	bin := filepath.Join(root, "usr", "sbin", "exim4")
	if !fileExists(bin) {
		t.Fatalf("no Exim at %s (make interop extracts it: scripts/install-deps.sh exim)", bin)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(conf, []byte("spool_directory = "+dir+"\nlog_file_path = "+dir+"/%slog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-C", conf, "-be", expansion).CombinedOutput()
	if err != nil {
		t.Fatalf("exim -be %q: %v\n%s", expansion, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestBATVWithExim: the sender Sluice tags its relay client's mail with,
// Exim's ${prvscheck} takes under the shared secret (and not under
// another); a tag Exim's ${prvs} makes, any key number, Sluice takes at
// RCPT and delivers to the address it stands for; one Exim made under
// another secret is refused with 550 5.7.1.
func TestBATVWithExim(t *testing.T) {
	remote := testlib.NewSink(t, "127.0.0.1:0")
	mailbox := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startSluiceWith(t, remote.Addr, `[[stage]]
name = "route"
plugin = "route"
[stage.config.batv]
secrets = ["`+batvSecret+`"]
[[stage.config.rules]]
match = "sluice.test"
transport = "smtp:`+mailbox.Addr+`"
`)
	msg := testlib.Message("alice@sluice.test", "dave@remote.test", "batv", "batv interop")
	if _, err := testlib.Send(addr, "alice@sluice.test", []string{"dave@remote.test"}, msg); err != nil {
		t.Fatal(err)
	}
	tagged := remote.WaitN(t, 1, 20*time.Second)[0].From
	if got := eximExpand(t, "${prvscheck{"+tagged+"}{"+batvSecret+"}}|$prvscheck_result"); got != "alice@sluice.test|1" {
		t.Errorf("Exim's prvscheck of <%s>: %q, want alice@sluice.test|1", tagged, got)
	}
	if got := eximExpand(t, "${prvscheck{"+tagged+"}{another}}|$prvscheck_result"); got != "alice@sluice.test|" {
		t.Errorf("Exim's prvscheck of <%s> under another secret: %q", tagged, got)
	}

	for i, keynum := range []string{"0", "5"} {
		rcpt := eximExpand(t, "${prvs{bob@sluice.test}{"+batvSecret+"}{"+keynum+"}}")
		if _, err := testlib.Send(addr, "", []string{rcpt}, testlib.Message("mailer-daemon@remote.test", rcpt, "bounce", "bounce")); err != nil {
			t.Fatalf("the bounce to Exim's <%s>: %v", rcpt, err)
		}
		if b := mailbox.WaitN(t, i+1, 20*time.Second)[i]; len(b.Rcpts) != 1 || b.Rcpts[0] != "bob@sluice.test" {
			t.Errorf("the bounce to <%s> reached the mailbox for %q", rcpt, b.Rcpts)
		}
	}
	forged := eximExpand(t, "${prvs{bob@sluice.test}{guessed}}")
	_, err := testlib.Send(addr, "", []string{forged}, testlib.Message("mailer-daemon@remote.test", forged, "forged", "forged"))
	if err == nil || !strings.HasPrefix(err.Error(), "550 5.7.1 ") {
		t.Errorf("Exim's tag under another secret <%s>: %v, want 550 5.7.1", forged, err)
	}
}
