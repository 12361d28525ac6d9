package milter

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// run is what one SMTP session through a pipeline of the stage alone
// came to: the outcome of the first refused step (or of DATA), the
// message as the stage left it, and the session's trace.
type run struct {
	step    string // the step that refused, or "data"
	out     pipeline.Outcome
	msg     *pipeline.Message
	env     sdk.Envelope
	entries []pipeline.TraceEntry
}

// runSession runs one SMTP session (connect, HELO, MAIL, each RCPT, DATA
// with raw) through p, as smtpd drives it.
func runSession(t *testing.T, p *pipeline.Pipeline, raw string, rcpts ...string) run {
	t.Helper()
	ctx := context.Background()
	sess := p.Open(ctx, *testSession())
	defer sess.Close()
	r := run{step: "connect", out: sess.Connect(ctx)}
	if r.out.OK() {
		r.step, r.out = "helo", sess.Helo(ctx, "client.example")
	}
	if r.out.OK() {
		r.step, r.out = "mail", sess.Mail(ctx, "alice@example.org", nil)
	}
	for _, rc := range rcpts {
		if !r.out.OK() {
			break
		}
		r.step = "rcpt " + rc
		_, r.out = sess.Rcpt(ctx, sdk.Recipient{Addr: rc})
	}
	if r.out.OK() {
		sess.Envelope().QueueID = "Q1"
		r.msg = pipeline.ParseMessage([]byte(raw))
		r.step, r.out = "data", sess.Data(ctx, r.msg)
	}
	r.env = *sess.Envelope()
	r.entries = sess.Trace()
	sess.Reset(ctx)
	return r
}

// onePipeline is a pipeline of st alone, named "m", with on_error onErr.
func onePipeline(st *Stage, onErr config.OnError) *pipeline.Pipeline {
	return pipeline.New(slog.New(slog.NewTextHandler(io.Discard, nil)),
		pipeline.StageConfig{Name: "m", Stage: st, Timeout: 2 * time.Second, OnError: onErr})
}

// scriptPeer is a raw milter whose answer to each command (by its
// SMFIC_ code) is the packets answer returns, written as they are,
// length included, until a nil packet, where it hangs up. A nil answer
// is continue, or for SMFIC_OPTNEG protocol version 6 with every action
// and no protocol option.
func scriptPeer(t *testing.T, answer func(cmd byte, data []byte) [][]byte) string {
	t.Helper()
	return acceptEach(t, func(c net.Conn) {
		for {
			p, err := readPacket(c)
			if err != nil {
				return
			}
			var out [][]byte
			switch p[0] {
			case 'O':
				if out = answer('O', p[1:]); out == nil {
					out = [][]byte{framed(append([]byte{'O'}, 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0, 0, 0))}
				}
			case 'D', 'A':
				continue
			case 'Q':
				return
			default:
				if out = answer(p[0], p[1:]); out == nil {
					out = [][]byte{framed([]byte{'c'})}
				}
			}
			for _, o := range out {
				if o == nil {
					return // hang up
				}
				if _, err := c.Write(o); err != nil {
					return
				}
			}
		}
	})
}

// framed prefixes a packet with its length.
func framed(p []byte) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(p))), p...) }

const plainMessage = "From: alice@example.org\r\nSubject: hello\r\n\r\nbody\r\n"
