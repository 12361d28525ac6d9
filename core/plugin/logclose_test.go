package plugin

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// burstLines is how many lines logBurst logs at each mail hook: more
// than a pipe holds (64 KiB), so some are still on their way to the core
// when the hook returns.
const burstLines = 2000

// logBurst logs burstLines records through sdk.Logger at the mail hook,
// as the filter logs a warn rule's match, and only then answers.
type logBurst struct{ sdk.Base }

func (logBurst) Mail(context.Context, *sdk.Txn) (sdk.Verdict, error) {
	pad := strings.Repeat("x", 64)
	for i := range burstLines {
		sdk.Logger().Info("burst line", "n", i, "pad", pad)
	}
	return sdk.Continue(), nil
}

// Every line a plugin logged through sdk.Logger before answering a call
// is in the core's log once Close has returned: a replay closes its
// stages as soon as the message has been through them, and a filter's
// warn line it had not shown then was lost. sdk.Logger wrote to the
// os.Stderr that go-plugin's Serve had replaced by a pipe it streams over
// gRPC, which Close cut off with what was still in it; the process's own
// stderr the core reads to its end.
func TestPluginLogLinesOutliveClose(t *testing.T) {
	var buf syncBuffer
	p, err := startSelf(t, "log-burst", slog.New(slog.NewTextHandler(&buf, nil)), 0)
	if err != nil {
		t.Fatal(err)
	}
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	if _, err := (conn{p}).Hook(context.Background(), sdk.HookMail, txn, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	for _, i := range []int{0, burstLines / 2, burstLines - 1} {
		if !strings.Contains(got, fmt.Sprintf(`msg="burst line" stage=st from=plugin n=%d `, i)) {
			t.Errorf("line %d of %d is not in the log after Close (%d burst lines are)", i, burstLines, strings.Count(got, "burst line"))
		}
	}
}

// syncBuffer is a bytes.Buffer the plugin's output goroutines may write
// to while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
