package daemon

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestAutoreplyExample: examples/autoreply, the last stage, answers a
// message to a responder through the core's Mailer. The sink gets the
// message and the reply, from the null sender (RFC 3834 §3.3) to the
// message's sender, threaded and marked auto-replied; a second message
// from the same sender is delivered without a reply, which its trace
// says.
func TestAutoreplyExample(t *testing.T) {
	bin := testlib.Build(t, "./examples/autoreply")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+fmt.Sprintf(`
[[stage]]
name     = "away"
plugin   = %q
on_error = "continue"
[[stage.config.responders]]
address = "carol@sluice.test"
body    = "Away until Monday."
until   = 2099-12-31
`, bin))

	// reason sends a message to carol and returns the away stage's note.
	reason := func(subject string) string {
		t.Helper()
		reply, err := send(t, d, subject, "carol@sluice.test")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range getTrace(t, d, queuedID(t, reply)).Entries {
			if e.Stage == "away" && e.Hook == sdk.HookData {
				return e.Reason
			}
		}
		return ""
	}

	if r := reason("lunch"); !strings.HasPrefix(r, "autoreply: replied for carol@sluice.test to alice@sluice.test (") {
		t.Fatalf("first message: away's reason %q", r)
	}
	got := sink.WaitN(t, 2, 20*time.Second)
	var reply *testlib.Delivery
	for i := range got {
		if got[i].From == "" {
			reply = &got[i]
		} else if got[i].From != "alice@sluice.test" || got[i].Rcpts[0] != "carol@sluice.test" {
			t.Errorf("delivery from <%s> to %v", got[i].From, got[i].Rcpts)
		}
	}
	if reply == nil || len(reply.Rcpts) != 1 || reply.Rcpts[0] != "alice@sluice.test" {
		t.Fatalf("no reply from <> to alice among %+v", got)
	}
	for _, want := range []string{"\r\nFrom: <carol@sluice.test>\r\n", "\r\nSubject: Auto: lunch\r\n",
		"\r\nIn-Reply-To: <lunch@test>\r\n", "\r\nAuto-Submitted: auto-replied\r\n", "\r\n\r\nAway until Monday.\r\n"} {
		if !strings.Contains("\r\n"+string(reply.Data), want) {
			t.Errorf("reply lacks %q:\n%s", want, reply.Data)
		}
	}

	if r := reason("again"); !strings.Contains(r, "alice@sluice.test answered within 7 days") {
		t.Fatalf("second message: away's reason %q", r)
	}
	if got := sink.WaitN(t, 3, 20*time.Second); len(got) != 3 || got[2].From != "alice@sluice.test" {
		t.Fatalf("deliveries after the second message: %+v", got)
	}
}
