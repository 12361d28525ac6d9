package plugin

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// inflate replaces the body with a copy of it ten times over.
type inflate struct{ sdk.Base }

func (inflate) Data(_ context.Context, _ *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	return sdk.Continue(sdk.ReplaceBody{Body: bytes.Repeat(m.Body, 10)}), nil
}

// A plugin stage that replaces the body with more than Options.MaxBody
// gets the message refused 552 5.3.4, as Postfix's cleanup refuses a
// milter's body over message_size_limit — under on_error continue too:
// the stage ran and changed the message, so going on without it would
// queue the message it meant to change. Within the limit, the same stage's
// body is taken. Before, any size was queued (and held in memory whole).
func TestPluginBodyOverMaxBodyIsRefused(t *testing.T) {
	p, err := Start(Options{Stage: "inflate", Command: []string{os.Args[0]}, ConfigJSON: []byte("{}"),
		Env: []string{servePluginEnv + "=inflate"}, Logger: slog.New(slog.DiscardHandler), MaxBody: 100 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, on := range []config.OnError{config.OnErrorContinue, config.OnErrorTempfail} {
		pl := pipeline.New(slog.New(slog.DiscardHandler), pipeline.StageConfig{Name: "inflate", Stage: p, Timeout: 10e9, OnError: on})
		data := func(n int) (pipeline.Outcome, *pipeline.Message) {
			s := pl.Open(context.Background(), sdk.Session{ID: "s"})
			defer s.Close()
			msg := pipeline.ParseMessage([]byte("Subject: x\r\n\r\n" + strings.Repeat("0123456789abcde\r\n", n)))
			return s.Data(context.Background(), msg), msg
		}
		// 17 bytes a line, ten times over: 170 KiB, over the 100 KiB limit.
		o, _ := data(1 << 10)
		if o.Reply == nil || !strings.HasPrefix(o.Reply.String(), "552 5.3.4 ") {
			t.Errorf("on_error %s: a body inflated past MaxBody got %v, want 552 5.3.4", on, o.Reply)
		}
		o, msg := data(100)
		if o.Reply != nil || len(msg.Body()) != 17000 {
			t.Errorf("on_error %s: a body inflated within MaxBody got %v, body %d bytes", on, o.Reply, len(msg.Body()))
		}
	}
}
