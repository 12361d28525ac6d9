package milter

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// A replacement body over Options.MaxBody, in all its SMFIR_REPLBODY
// packets, refuses the message with 552 5.3.4 whatever on_error says, as
// Postfix's cleanup refuses a milter's body over message_size_limit. The
// rest of the body is read past, not held: the milter's final answer is
// read, and the next message of the session goes through the same
// connection.
func TestReplacementBodyOverTheLimit(t *testing.T) {
	var eobs atomic.Int32
	chunk := pkt('b', strings.Repeat("x", 59)) // 60 bytes of body each
	addr := scriptPeer(t, func(cmd byte, _ []byte) [][]byte {
		if cmd != 'E' {
			return nil
		}
		if eobs.Add(1) == 1 {
			return [][]byte{framed(chunk[:61]), framed(chunk[:61]), framed(chunk[:61]), framed(pkt('h', "X-Late", "1")), framed([]byte{'c'})}
		}
		return [][]byte{framed(pkt('h', "X-Second", "yes")), framed([]byte{'c'})}
	})
	st, err := New(Options{Name: "m", Addr: addr, Timeout: 2 * time.Second, MaxBody: 100,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p := onePipeline(st, config.OnErrorContinue)
	ctx := context.Background()
	sess := p.Open(ctx, *testSession())
	defer sess.Close()
	message := func() (pipeline.Outcome, *pipeline.Message) {
		t.Helper()
		if o := sess.Mail(ctx, "alice@example.org", nil); !o.OK() {
			t.Fatalf("mail: %+v", o)
		}
		if _, o := sess.Rcpt(ctx, sdk.Recipient{Addr: "bob@example.net"}); !o.OK() {
			t.Fatalf("rcpt: %+v", o)
		}
		sess.Envelope().QueueID = "Q1"
		m := pipeline.ParseMessage([]byte(plainMessage))
		o := sess.Data(ctx, m)
		sess.Reset(ctx)
		return o, m
	}
	if o := sess.Connect(ctx); !o.OK() {
		t.Fatalf("connect: %+v", o)
	}
	if o := sess.Helo(ctx, "client.example"); !o.OK() {
		t.Fatalf("helo: %+v", o)
	}
	if o, _ := message(); o.OK() || !strings.HasPrefix(o.Reply.String(), "552 5.3.4 ") {
		t.Fatalf("over the limit: %+v %v", o, o.Reply)
	}
	o, m := message()
	if !o.OK() || m.Get("X-Second") != "yes" {
		t.Fatalf("next message: %+v, X-Second %q", o, m.Get("X-Second"))
	}
	if state, restarts := st.Health(); state != "running" || restarts != 0 {
		t.Fatalf("health %s %d: the connection broke", state, restarts)
	}
}

// A packet other than SMFIR_REPLBODY larger than go-milter reads is
// refused as soon as its length is read, with an error that says so,
// rather than read to its end (or to the timeout) first.
func TestOversizedPacketIsRefusedUnread(t *testing.T) {
	addr := scriptPeer(t, func(cmd byte, _ []byte) [][]byte {
		if cmd == 'R' {
			return [][]byte{{0x3f, 0xff, 0xff, 0xf0, 'h', 'X', 0}} // and nothing more
		}
		return nil
	})
	start := time.Now()
	r := runSession(t, onePipeline(newStage(t, addr), config.OnErrorTempfail), plainMessage, "bob@example.net")
	last := r.entries[len(r.entries)-1]
	if r.step != "rcpt bob@example.net" || r.out.Action != sdk.ActionTempfail || !strings.Contains(last.Error, "over the limit of 1048576") {
		t.Fatalf("%s: %+v, trace %+v", r.step, r.out, last)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v: the packet was waited for", d)
	}
}
