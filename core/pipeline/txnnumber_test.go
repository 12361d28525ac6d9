package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// Every hook of a transaction carries its number, counted by MAIL from 1;
// connect and a HELO before the first MAIL have 0, a later HELO the
// number of the transaction it ended. A MAIL that delay_reject held back
// and a RSET dropped still takes its number, and a held hook carries the
// number of its own time.
func TestTransactionNumbers(t *testing.T) {
	ctx := context.Background()
	for _, delay := range []bool{false, true} {
		var got []string
		st := &goStage{hooks: map[sdk.Hook]bool{sdk.HookConnect: true, sdk.HookHelo: true, sdk.HookMail: true, sdk.HookRcpt: true, sdk.HookData: true}}
		st.onHook = func(h sdk.Hook, t *sdk.Txn, _ *sdk.Recipient) (sdk.Verdict, error) {
			got = append(got, fmt.Sprintf("%s:%d", h, t.Session.Transaction))
			return sdk.Continue(), nil
		}
		st.onData = func(t *sdk.Txn, _ *sdk.Message) (sdk.Verdict, error) {
			got = append(got, fmt.Sprintf("data:%d", t.Session.Transaction))
			return sdk.Continue(), nil
		}
		p := New(nil, sc("a", st))
		p.SetDelayReject(delay)
		s := p.Open(ctx, sdk.Session{ID: "s1"})
		s.Connect(ctx)
		s.Helo(ctx, "first")
		s.Mail(ctx, "a@x", nil)
		s.Rcpt(ctx, sdk.Recipient{Addr: "b@y"})
		s.Data(ctx, ParseMessage([]byte(raw)))
		s.Reset(ctx)
		s.Mail(ctx, "c@x", nil) // RSET before any RCPT
		s.Reset(ctx)
		s.Helo(ctx, "second")
		s.Mail(ctx, "d@x", nil)
		s.Rcpt(ctx, sdk.Recipient{Addr: "e@y"})
		s.Data(ctx, ParseMessage([]byte(raw)))
		s.Close()
		want := "connect:0 helo:0 mail:1 rcpt:1 data:1 mail:2 helo:2 mail:3 rcpt:3 data:3"
		if delay {
			want = "connect:0 helo:0 mail:1 rcpt:1 data:1 helo:2 mail:3 rcpt:3 data:3"
		}
		if g := strings.Join(got, " "); g != want {
			t.Errorf("delay_reject=%v: hooks %s\nwant %s", delay, g, want)
		}
	}
}
