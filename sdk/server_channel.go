package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Channel serves many concurrent calls over one stream (see ChannelFrame
// in plugin.proto). One goroutine reads frames and reassembles data
// bodies; each call runs in a goroutine of its own, so a slow hook holds
// up nobody else; answers share the stream under a mutex.
func (s *server) Channel(stream pb.Plugin_ChannelServer) error {
	if s.noChannel {
		return status.Error(codes.Unimplemented, "this plugin serves no Channel")
	}
	if !s.configured.Load() {
		return status.Error(codes.FailedPrecondition, "channel opened before Init")
	}
	err := s.serveChannel(stream.Context(), stream)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// serveChannel serves calls from stream until it ends; ctx is done when
// it has.
func (s *server) serveChannel(ctx context.Context, stream frameStream) error {
	ch := &serverChannel{s: s, stream: stream, ctx: ctx, calls: make(map[uint64]*serverCall)}
	err := ch.read()
	ch.close()
	return err
}

// serveDirect serves the direct channel whose control socket is ctl:
// each connection the core passes over it carries one call at a time,
// run on the connection's own goroutine, until the core closes it.
func (s *server) serveDirect(ctl *net.UnixConn) {
	err := acceptConns(ctl, func(conn streamConn) {
		st := newDirectStream(conn)
		st.deferLast = true
		ch := &serverChannel{s: s, stream: st, ctx: st.Context(), calls: make(map[uint64]*serverCall), inline: true}
		err := ch.read() // never nil: it reads until the stream fails
		ch.close()
		_ = st.Close()
		if !errors.Is(err, io.EOF) {
			s.log.Warn("direct channel connection ended", "err", err.Error())
		}
	})
	_ = ctl.Close()
	if err != nil && !errors.Is(err, io.EOF) {
		s.log.Warn("direct channel ended", "err", err.Error())
	}
}

// serverChannel is the plugin's end of one Channel stream.
type serverChannel struct {
	s      *server
	stream frameStream
	ctx    context.Context // done when the stream has ended

	sendMu sync.Mutex
	closed bool // the stream has ended: answers are dropped

	mu    sync.Mutex
	calls map[uint64]*serverCall // calls receiving their body or running

	// inline runs each call on the reader's goroutine: the core sends a
	// call at a time on this stream (a direct channel connection), so
	// nothing else waits behind it.
	inline bool
}

// serverCall is one call in progress. Until its body is complete only the
// reader touches it; then cancel, the only field shared, is set.
type serverCall struct {
	cancel context.CancelFunc // nil while the body is arriving

	hook    Hook
	t       *Txn
	m       *Message
	size    uint64 // announced body size
	body    []byte
	timeout uint64
}

// read reads frames until the stream ends.
func (ch *serverChannel) read() error {
	for {
		f, err := ch.stream.Recv()
		if err != nil {
			return err
		}
		ch.frame(f)
	}
}

// frame handles one frame from the core.
func (ch *serverChannel) frame(f *pb.ChannelFrame) {
	id := f.GetCallId()
	switch x := f.GetFrame().(type) {
	case *pb.ChannelFrame_Hook:
		if !ch.open(id) {
			return
		}
		c := &serverCall{timeout: f.GetTimeoutMicros()}
		req := x.Hook
		ch.start(id, c, func(ctx context.Context) (callAnswer, error) {
			out, err := ch.s.hook(ctx, req)
			return callAnswer{verdict: out}, err
		})
	case *pb.ChannelFrame_HookBatch:
		if !ch.open(id) {
			return
		}
		c := &serverCall{timeout: f.GetTimeoutMicros()}
		b := x.HookBatch
		ch.start(id, c, func(ctx context.Context) (callAnswer, error) {
			out, err := ch.s.hookBatch(ctx, b)
			return callAnswer{batch: out}, err
		})
	case *pb.ChannelFrame_DataStart:
		if !ch.open(id) {
			return
		}
		hook, t, m, err := dataRequest(x.DataStart)
		if err != nil {
			ch.answerError(id, status.Errorf(codes.InvalidArgument, "data call: %v", err))
			return
		}
		c := &serverCall{hook: hook, t: t, m: m, size: x.DataStart.GetBodySize(), timeout: f.GetTimeoutMicros()}
		if x.DataStart.GetBodyFollows() {
			c.body = []byte{}
		}
		ch.mu.Lock()
		ch.calls[id] = c
		ch.mu.Unlock()
		ch.body(id, c, f)
	case nil:
		ch.mu.Lock()
		c := ch.calls[id]
		ch.mu.Unlock()
		if c == nil || c.cancel != nil {
			return // the rest of a call cancelled or refused: drop it
		}
		ch.body(id, c, f)
	case *pb.ChannelFrame_Cancel:
		ch.mu.Lock()
		c := ch.calls[id]
		if c != nil && c.cancel == nil {
			delete(ch.calls, id) // still receiving: forget the body
		}
		ch.mu.Unlock()
		if c != nil && c.cancel != nil {
			c.cancel()
		}
	default:
		ch.answerError(id, status.Errorf(codes.InvalidArgument, "channel: the core sent a %T frame", x))
	}
}

// open checks that id is a new call.
func (ch *serverChannel) open(id uint64) bool {
	ch.mu.Lock()
	_, dup := ch.calls[id]
	ch.mu.Unlock()
	if dup {
		ch.answerError(id, status.Errorf(codes.InvalidArgument, "channel: call %d is already in progress", id))
	}
	return !dup
}

// body adds a data call's body chunk and, at the call's last frame,
// starts the hook.
func (ch *serverChannel) body(id uint64, c *serverCall, f *pb.ChannelFrame) {
	fail := func(format string, a ...any) {
		ch.mu.Lock()
		delete(ch.calls, id)
		ch.mu.Unlock()
		ch.answerError(id, status.Errorf(codes.InvalidArgument, "data call: "+format, a...))
	}
	if chunk := f.GetBodyChunk(); len(chunk) > 0 {
		switch {
		case c.body == nil:
			fail("body chunk, but DataStart said no body follows")
			return
		case len(c.body) == 0 && f.GetEnd():
			c.body = chunk // the whole body in one frame: no copy
		default:
			if cap(c.body) == 0 {
				c.body = make([]byte, 0, min(c.size, maxPrealloc))
			}
			c.body = append(c.body, chunk...)
		}
	}
	if !f.GetEnd() {
		return
	}
	if c.body != nil {
		if uint64(len(c.body)) != c.size {
			fail("got %d body bytes, DataStart announced %d", len(c.body), c.size)
			return
		}
		c.m.Body = c.body
	}
	ch.start(id, c, func(ctx context.Context) (callAnswer, error) {
		out, body, err := ch.s.data(ctx, c.hook, c.t, c.m)
		return callAnswer{verdict: out, body: body}, err
	})
}

// callAnswer is a call's answer: a verdict, with the new body when a data
// call's verdict replaces it, or a hook batch's verdicts.
type callAnswer struct {
	verdict *pb.Verdict
	body    []byte
	batch   *pb.VerdictBatch
}

// runFunc runs a call's hook, or a batch's hooks.
type runFunc func(context.Context) (callAnswer, error)

// start runs a call whose request is complete, in a goroutine of its own
// unless the stream is inline, and answers it.
func (ch *serverChannel) start(id uint64, c *serverCall, run runFunc) {
	if ch.inline {
		// An inline call blocks the reader, which therefore can neither
		// see the stream end nor take a Cancel frame while it runs: the
		// call's context is not the stream's child nor in calls, and its
		// timeout starts a timer only if the hook waits on it.
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if c.timeout > 0 {
			ctx, cancel = WithCallTimeout(ctx, time.Duration(c.timeout)*time.Microsecond)
		}
		if c.m != nil {
			ch.mu.Lock()
			delete(ch.calls, id) // a data call: its body is complete
			ch.mu.Unlock()
		}
		ch.finish(ctx, cancel, id, run)
		return
	}
	var ctx context.Context
	var cancel context.CancelFunc
	if c.timeout > 0 {
		ctx, cancel = context.WithTimeout(ch.ctx, time.Duration(c.timeout)*time.Microsecond)
	} else {
		ctx, cancel = context.WithCancel(ch.ctx)
	}
	ch.mu.Lock()
	c.cancel = cancel
	ch.calls[id] = c
	ch.mu.Unlock()
	go ch.finish(ctx, cancel, id, run)
}

// finish runs a call and answers it.
func (ch *serverChannel) finish(ctx context.Context, cancel context.CancelFunc, id uint64, run runFunc) {
	defer cancel()
	if !ch.inline {
		defer func() {
			ch.mu.Lock()
			delete(ch.calls, id)
			ch.mu.Unlock()
		}()
	}
	a, err := ch.run(ctx, run)
	if ctx.Err() != nil {
		return // the core gave up on this call; nobody waits for it
	}
	if err != nil {
		ch.answerError(id, err)
		return
	}
	ch.answer(id, a)
}

// run calls run, turning a panic outside the hook itself (the hook's own
// are caught by guard) into the call's error instead of the process's end.
func (ch *serverChannel) run(ctx context.Context, run runFunc) (a callAnswer, err error) {
	defer func() {
		if r := recover(); r != nil {
			ch.s.log.Error("plugin panicked", "in", "channel call", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "plugin panicked: %v", r)
		}
	}()
	return run(ctx)
}

// answer sends a verdict and, when it replaces the body, the new body: a
// small body rides on the verdict frame. A batch's verdicts go in one
// frame. On a gRPC stream the verdict is checked first, since a frame that
// fails to encode would end the stream; the direct channel checks it as it
// encodes it, before writing.
func (ch *serverChannel) answer(id uint64, a callAnswer) {
	what, out := "verdict", proto.Message(a.verdict)
	f := &pb.ChannelFrame{CallId: id, Frame: &pb.ChannelFrame_Verdict{Verdict: a.verdict}}
	if a.batch != nil {
		what, out = "verdicts", a.batch
		f.Frame = &pb.ChannelFrame_VerdictBatch{VerdictBatch: a.batch}
	}
	if !ch.inline {
		if err := checkFrame(what, out); err != nil {
			ch.answerError(id, status.Error(codes.Internal, err.Error()))
			return
		}
	}
	body := a.body
	n := min(len(body), ChunkSize)
	f.BodyChunk, f.End = body[:n], n == len(body)
	body = body[n:]
	for {
		if err := ch.send(f); err != nil {
			var fe *frameError
			if errors.As(err, &fe) {
				ch.answerError(id, status.Errorf(codes.Internal, "%s: %v", what, fe))
			}
			return // else the stream is gone; the core has failed the call
		}
		if len(body) == 0 {
			return
		}
		n := min(len(body), ChunkSize)
		f = &pb.ChannelFrame{CallId: id, BodyChunk: body[:n], End: n == len(body)}
		body = body[n:]
	}
}

// answerError ends call id with err, a gRPC status as on Hook and Data.
func (ch *serverChannel) answerError(id uint64, err error) {
	st := status.Convert(err)
	_ = ch.send(&pb.ChannelFrame{CallId: id, End: true, Frame: &pb.ChannelFrame_Error{
		Error: &pb.ChannelError{Code: uint32(st.Code()), Message: st.Message()}}})
}

// send writes one frame. After the stream has ended it drops the frame: a
// gRPC stream must not be written once its handler has returned.
func (ch *serverChannel) send(f *pb.ChannelFrame) error {
	ch.sendMu.Lock()
	defer ch.sendMu.Unlock()
	if ch.closed {
		return io.EOF
	}
	return ch.stream.Send(f)
}

// close ends the channel: later answers are dropped and every call in
// progress has its context cancelled.
func (ch *serverChannel) close() {
	ch.sendMu.Lock()
	ch.closed = true
	ch.sendMu.Unlock()
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for id, c := range ch.calls {
		if c.cancel != nil {
			c.cancel()
		}
		delete(ch.calls, id)
	}
}
