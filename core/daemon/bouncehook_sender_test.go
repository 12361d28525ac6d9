package daemon

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestBounceHookSender: a bounce hook stage sees plugin mail from the
// sender the plugin gave (OutgoingMessage.From) and a DSN from the null
// sender, as each is queued; it saw every message from <>.
func TestBounceHookSender(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnRcpt(func(rcpt string) error {
		if rcpt == "bob@remote.test" {
			return testlib.Perm // a DSN to alice
		}
		return testlib.Temp // the rest stay queued
	})
	notifier := testlib.Build(t, "./internal/testplugins/notifier")
	d := startDaemon(t, relayTo(sink)+fmt.Sprintf(`
[[stage]]
name   = "notify"
plugin = %q
[stage.config]
from        = "notices@sluice.test"
header_from = "notices@sluice.test"
to          = "admin@elsewhere.test"
`, notifier)+bouncerStage(t, "seen", `{}`, ""))

	// seen is the reason of the seen stage's bounce hook entry in the
	// trace of id: the sender it was given.
	seen := func(id string) string {
		t.Helper()
		for _, e := range getTrace(t, d, id).Entries {
			if e.Stage == "seen" && e.Hook == sdk.HookBounce {
				return e.Reason
			}
		}
		t.Fatalf("trace of %s: no bounce hook entry of stage seen", id)
		return ""
	}

	reply, err := send(t, d, "hello")
	if err != nil {
		t.Fatal(err)
	}
	var note string
	for _, e := range getTrace(t, d, queuedID(t, reply)).Entries {
		if m := regexp.MustCompile(`^notified (\S+) `).FindStringSubmatch(e.Reason); e.Stage == "notify" && m != nil {
			note = m[1]
		}
	}
	if note == "" {
		t.Fatal("the notify stage sent no notification")
	}
	if got := seen(note); got != "from <notices@sluice.test>" {
		t.Errorf("plugin mail: the bounce hook saw %q, want from <notices@sluice.test>", got)
	}
	dsn, _ := waitReport(t, d, "bob@remote.test")
	if got := seen(dsn.ID); got != "from <>" {
		t.Errorf("DSN: the bounce hook saw %q, want from <>", got)
	}
}
