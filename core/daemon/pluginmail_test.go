package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestPluginMail: a plugin stage that, at its data hook, sends a
// notification through its sdk.Mailer has it queued and delivered (to a
// sink, over the relay), signed by the dkim sign stage after it, which
// sign_reports has sign what the bounce hook sees; the notification's
// trace names the stage that sent it; the stage's state directory,
// data_dir/plugins/STAGE, exists with mode 0700 and is the one the
// plugin was given. After a SIGKILL of the plugin and its restart, the
// new process's Mailer works too.
func TestPluginMail(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	bin := testlib.Build(t, "./internal/testplugins/notifier")
	dir := t.TempDir()
	keyFile, keyRecord := signingKey(t, dir, "sluice.test")
	dns := testlib.NewDNS(t, keyRecord)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	data := filepath.Join(dir, "data")
	stages := fmt.Sprintf(`
[[stage]]
name   = "notify"
plugin = %q
[stage.config]
from        = "notices@sluice.test"
header_from = "notices@sluice.test"
to          = "admin@elsewhere.test"
`, bin)
	d := site{DataDir: data, DNS: dns.Addr, Relay: sink.Addr, RelayNetworks: true, Stages: stages, SignKey: keyFile}.start(t, self)

	stateDir := filepath.Join(data, "plugins", "notify")
	fi, err := os.Stat(stateDir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory %s: %v, %v", stateDir, fi, err)
	}

	// notified sends a message and returns the notification it caused,
	// which the message's trace names.
	notified := func(subject string) (testlib.Delivery, string) {
		t.Helper()
		reply, err := send(t, d, subject)
		if err != nil {
			t.Fatal(err)
		}
		var reason string
		for _, e := range getTrace(t, d, queuedID(t, reply)).Entries {
			if e.Stage == "notify" && e.Hook == sdk.HookData {
				reason = e.Reason
			}
		}
		m := regexp.MustCompile(`^notified (\S+) state (.*)$`).FindStringSubmatch(reason)
		if m == nil || m[2] != stateDir {
			t.Fatalf("notify's data hook: %q, want notified ID state %s", reason, stateDir)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			for _, got := range sink.Deliveries() {
				if len(got.Rcpts) == 1 && got.Rcpts[0] == "admin@elsewhere.test" && strings.Contains(string(got.Data), "Subject: notice: "+subject+"\r\n") {
					return got, m[1]
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no notification about %q reached the sink", subject)
			}
			sink.WaitN(t, len(sink.Deliveries())+1, time.Until(deadline))
		}
	}

	note, id := notified("first")
	msg := string(note.Data)
	// The core's Received field heads the message, under the signature
	// the bounce hook's dkim stage put above it, with the queue id Send
	// returned, which sluice trace takes.
	received := "\r\nReceived: by mx.sluice.test (Sluice, from stage notify) id " + id + ";\r\n\t"
	if i := strings.Index(msg, received); !strings.HasPrefix(msg, "DKIM-Signature: ") || i < 0 ||
		regexp.MustCompile(`\r\n[^ \t]`).MatchString(msg[:i]) {
		t.Fatalf("notification: want the DKIM-Signature field, then %q:\n%s", received[2:], msg)
	}
	if note.From != "notices@sluice.test" || !strings.Contains(msg, "\r\n\r\nA message came from <alice@sluice.test>.\r\n") {
		t.Fatalf("notification from <%s>:\n%s", note.From, msg)
	}
	if err := sluiceSigned(t, dns.Addr, msg); err != nil {
		t.Fatalf("notification: %v:\n%s", err, msg)
	}
	tr := getTrace(t, d, id)
	if tr.Outcome != "queued by stage notify" || !hasEntry(tr.Entries, "dkim-sign", sdk.HookBounce) {
		t.Fatalf("notification's trace: %+v, want queued by stage notify, signed at the bounce hook", tr)
	}

	// The plugin dies; its restart gets a Mailer that works.
	pid, err := os.ReadFile(filepath.Join(stateDir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(string(pid))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(n, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitStage(t, d, "notify", func(s pipeline.StageStatus) bool { return s.State == "running" && s.Restarts >= 1 })
	if _, id2 := notified("second"); id2 == id {
		t.Fatalf("second notification has the first's id %s", id)
	}
}

// hasEntry reports whether a trace entry is stage's at hook.
func hasEntry(es []pipeline.TraceEntry, stage string, hook sdk.Hook) bool {
	for _, e := range es {
		if e.Stage == stage && e.Hook == hook {
			return true
		}
	}
	return false
}
