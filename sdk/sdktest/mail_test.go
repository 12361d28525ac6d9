package sdktest_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// autoReply answers every message through its Mailer, from the null
// sender (RFC 3834 §3.3), and says in its reason what came of it.
type autoReply struct {
	sdk.Base
	cfg sdk.Config
}

func (a *autoReply) Configure(_ context.Context, cfg sdk.Config) error { a.cfg = cfg; return nil }

func (a *autoReply) Data(ctx context.Context, t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
	id, err := a.cfg.Mailer.Send(ctx, sdk.OutgoingMessage{To: []string{t.Envelope.MailFrom},
		Message: []byte("Subject: away\r\nAuto-Submitted: auto-replied\r\n\r\nback soon\r\n")})
	if err != nil {
		return sdk.Continue().Because(err.Error()), nil
	}
	return sdk.Continue().Because("sent " + id), nil
}

// The harness records what the plugin sends, and FailSend makes Send
// fail with the text given; StateDir is a directory of the test's.
func TestHarnessRecordsMail(t *testing.T) {
	p := &autoReply{}
	h := sdktest.New(t, p, "")
	if fi, err := os.Stat(h.StateDir()); err != nil || !fi.IsDir() || p.cfg.StateDir != h.StateDir() {
		t.Fatalf("StateDir %q (plugin's %q): %v", h.StateDir(), p.cfg.StateDir, err)
	}
	v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte("Subject: hi\r\n\r\nhi\r\n"))
	if v.Reason != "sent sdktest-1" {
		t.Fatalf("verdict %+v", v)
	}
	sent := h.Sent()
	if len(sent) != 1 || sent[0].From != "" || len(sent[0].To) != 1 || sent[0].To[0] != "alice@example.org" ||
		string(sent[0].Message) != "Subject: away\r\nAuto-Submitted: auto-replied\r\n\r\nback soon\r\n" {
		t.Fatalf("sent %+v", sent)
	}
	h.FailSend(errors.New("disk full"))
	v = h.Data(sdktest.NewTxn("carol@example.org", "bob@example.net"), []byte("Subject: hi\r\n\r\nhi\r\n"))
	if v.Reason != "sdk: mail not queued: disk full" || len(h.Sent()) != 1 {
		t.Fatalf("verdict %+v after FailSend, sent %d", v, len(h.Sent()))
	}
}
