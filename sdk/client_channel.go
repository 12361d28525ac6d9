package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// channel is the core's end of one Channel stream: many concurrent calls
// multiplexed over one long-lived gRPC stream, so a call costs a frame
// each way instead of an HTTP/2 stream's setup, headers and trailers.
// Writers share the stream under sendMu; one reader goroutine hands each
// answer to its call.
type channel struct {
	stream frameStream
	cancel func() // ends the stream

	sendMu sync.Mutex

	mu    sync.Mutex
	next  uint64
	calls map[uint64]*clientCall // calls waiting for their answer
	err   error                  // why the stream broke; set once
	done  chan struct{}          // closed when err is set
	// maxBody bounds a replaced body (Client.SetMaxBody); 0: DefaultMaxBody.
	maxBody int64
}

// clientCall is one call waiting on the channel. The reader assembles the
// answer (verdict and replaced body) and delivers it once on res.
type clientCall struct {
	data    bool
	maxBody int64 // the limit on a replaced body; 0: DefaultMaxBody
	verdict *pb.Verdict
	batch   *pb.VerdictBatch // the answer to a hook batch
	body    []byte
	chunks  bool // body chunks arrived
	res     chan callResult
}

// callResult is a call's answer off the wire: the verdict and, for a data
// call whose verdict replaces the body, the new body (chunks reports
// whether any arrived; the body may be legitimately empty).
type callResult struct {
	verdict *pb.Verdict
	batch   *pb.VerdictBatch
	body    []byte
	chunks  bool
	err     error
}

// openChannel opens the Channel stream and starts its reader. The stream
// lives until the connection does (the plugin process exits) or it
// breaks; calls then fail and the Client opens a new one.
func openChannel(rpc pb.PluginClient, maxBody int64) (*channel, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := rpc.Channel(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	ch := newChannel(stream, cancel)
	ch.maxBody = maxBody
	return ch, nil
}

// newChannel runs the core's end of a channel over stream; cancel ends
// the stream.
func newChannel(stream frameStream, cancel func()) *channel {
	ch := &channel{stream: stream, cancel: cancel, calls: make(map[uint64]*clientCall), done: make(chan struct{})}
	go ch.read()
	return ch
}

// broken reports whether the stream has failed.
func (ch *channel) broken() bool {
	select {
	case <-ch.done:
		return true
	default:
		return false
	}
}

// read demultiplexes the plugin's frames into their calls until the
// stream ends, then fails every call still waiting.
func (ch *channel) read() {
	for {
		f, err := ch.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("plugin closed the channel")
			}
			ch.fail(fmt.Errorf("plugin channel: %w", err))
			return
		}
		ch.mu.Lock()
		c := ch.calls[f.GetCallId()]
		ch.mu.Unlock()
		if c == nil {
			continue // the answer to a call that gave up
		}
		if r, done := c.add(f); done {
			ch.complete(f.GetCallId(), r)
		}
	}
}

// add takes one frame of c's answer and reports whether the answer is
// complete.
func (c *clientCall) add(f *pb.ChannelFrame) (callResult, bool) {
	bad := func(format string, a ...any) (callResult, bool) {
		return callResult{err: status.Errorf(codes.Internal, "plugin channel: "+format, a...)}, true
	}
	switch x := f.GetFrame().(type) {
	case *pb.ChannelFrame_Error:
		e := x.Error
		return callResult{err: status.Error(codes.Code(e.GetCode()), e.GetMessage())}, true
	case *pb.ChannelFrame_Verdict:
		if c.verdict != nil || c.batch != nil {
			return bad("second verdict in one call")
		}
		c.verdict = x.Verdict
	case *pb.ChannelFrame_VerdictBatch:
		if c.verdict != nil || c.batch != nil {
			return bad("second verdict in one call")
		}
		c.batch = x.VerdictBatch
	case nil:
		if c.verdict == nil && c.batch == nil {
			return bad("body frame before the verdict")
		}
	default:
		return bad("plugin sent a %T frame", x)
	}
	if chunk := f.GetBodyChunk(); len(chunk) > 0 {
		if !c.data {
			return bad("body chunk in an envelope hook's answer")
		}
		if err := checkBodySize(len(c.body), len(chunk), c.maxBody); err != nil {
			// The call ends here; the rest of the body, as it comes, is
			// that of a call no longer waiting (on a direct connection,
			// one that is not reused).
			return callResult{err: err}, true
		}
		if c.body == nil {
			c.body = chunk // the usual single chunk: no copy
		} else {
			c.body = append(c.body, chunk...)
		}
		c.chunks = true
	}
	if !f.GetEnd() {
		return callResult{}, false
	}
	return callResult{verdict: c.verdict, batch: c.batch, body: c.body, chunks: c.chunks}, true
}

// complete delivers r to call id unless it has already been answered or
// has given up.
func (ch *channel) complete(id uint64, r callResult) {
	ch.mu.Lock()
	c := ch.calls[id]
	delete(ch.calls, id)
	ch.mu.Unlock()
	if c != nil {
		c.res <- r // buffered: the one delivery never blocks
	}
}

// fail marks the stream broken and fails every waiting call at once: the
// plugin died or the stream broke, and waiting for a timeout would only
// hold the SMTP client.
func (ch *channel) fail(err error) {
	ch.mu.Lock()
	if ch.err != nil {
		ch.mu.Unlock()
		return
	}
	ch.err = err
	calls := ch.calls
	ch.calls = nil
	close(ch.done)
	ch.mu.Unlock()
	ch.cancel()
	for _, c := range calls {
		c.res <- callResult{err: err}
	}
}

// send writes one frame; frames of concurrent calls interleave between
// sends, never within one.
func (ch *channel) send(f *pb.ChannelFrame) error {
	ch.sendMu.Lock()
	defer ch.sendMu.Unlock()
	return ch.stream.Send(f)
}

// call runs one call: first opens it (a hook request or a DataStart),
// body follows it in chunks for a data call, then it waits for the
// answer, the ctx's end or the stream's.
func (ch *channel) call(ctx context.Context, first *pb.ChannelFrame, body []byte) (callResult, error) {
	if err := ctx.Err(); err != nil {
		return callResult{}, status.FromContextError(err).Err()
	}
	c := &clientCall{data: first.GetDataStart() != nil, maxBody: ch.maxBody, res: make(chan callResult, 1)}
	ch.mu.Lock()
	if ch.err != nil {
		err := ch.err
		ch.mu.Unlock()
		return callResult{}, err
	}
	ch.next++
	id := ch.next
	ch.calls[id] = c
	ch.mu.Unlock()

	first.CallId = id
	if dl, ok := ctx.Deadline(); ok {
		first.TimeoutMicros = uint64(max(time.Until(dl).Microseconds(), 1))
	}
	if err := ch.sendCall(ctx, c, first, body); err != nil {
		ch.giveUp(id)
		return callResult{}, err
	}
	select {
	case r := <-c.res:
		return r, r.err
	case <-ctx.Done():
		ch.giveUp(id)
		return callResult{}, status.FromContextError(ctx.Err()).Err()
	}
}

// sendCall sends a call's frames. A small body rides on the first frame;
// a large one follows in ChunkSize frames, and stops early when the call
// is over (the plugin answered with an error, the ctx ended).
func (ch *channel) sendCall(ctx context.Context, c *clientCall, first *pb.ChannelFrame, body []byte) error {
	n := min(len(body), ChunkSize)
	first.BodyChunk, body = body[:n], body[n:]
	first.End = len(body) == 0
	if err := ch.send(first); err != nil {
		return ch.sendErr(err)
	}
	for len(body) > 0 {
		if len(c.res) > 0 {
			return nil // answered early; the caller reads the answer
		}
		if err := ctx.Err(); err != nil {
			return status.FromContextError(err).Err()
		}
		n := min(len(body), ChunkSize)
		f := &pb.ChannelFrame{CallId: first.CallId, BodyChunk: body[:n], End: n == len(body)}
		if err := ch.send(f); err != nil {
			return ch.sendErr(err)
		}
		body = body[n:]
	}
	return nil
}

// sendErr turns a failed send into the call's error. io.EOF means the
// stream is gone; the reader learns why and fails the channel.
func (ch *channel) sendErr(err error) error {
	if errors.Is(err, io.EOF) {
		<-ch.done
		return ch.err
	}
	return err
}

// giveUp forgets call id and, when the plugin may still be working on it,
// tells the plugin to cancel it. The cancel frame goes out from its own
// goroutine: the caller is leaving because of its ctx and must not wait on
// a congested stream.
func (ch *channel) giveUp(id uint64) {
	ch.mu.Lock()
	_, waiting := ch.calls[id]
	delete(ch.calls, id)
	broken := ch.err != nil
	ch.mu.Unlock()
	if waiting && !broken {
		go func() {
			_ = ch.send(&pb.ChannelFrame{CallId: id, Frame: &pb.ChannelFrame_Cancel{Cancel: &pb.ChannelCancel{}}})
		}()
	}
}
