package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxIdleDirect bounds the idle connections a direct pool keeps; more are
// opened while more calls run at once, and closed when they end.
const maxIdleDirect = 64

// maxOpenDirect bounds a pool's connections; a call beyond it goes over
// the gRPC Channel stream instead.
const maxOpenDirect = 512

// directPool is the core's end of a plugin's direct channel: a control
// socket, over which it hands the plugin a new connection whenever every
// open one is busy, and the idle connections. Each connection carries one
// call at a time, and the caller reads its own answer, so an answer wakes
// the goroutine waiting for it with no reader goroutine in between, and a
// slow call holds up nobody else.
type directPool struct {
	ctl *net.UnixConn

	mu   sync.Mutex
	idle []*directStream
	open int
	err  error // the control socket failed: no new connections
}

func newDirectPool(ctl *net.UnixConn) *directPool { return &directPool{ctl: ctl} }

// usable reports whether calls can still go through the pool.
func (p *directPool) usable() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err == nil
}

// close ends every connection and the control socket.
func (p *directPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	if p.err == nil {
		p.err = errors.New("direct channel closed")
	}
	p.mu.Unlock()
	for _, st := range idle {
		_ = st.Close()
	}
	_ = p.ctl.Close()
}

// get returns an idle connection or opens one; ok is false when the pool
// cannot serve the call (the control socket broke, or too many calls run
// at once) and the caller should use another transport.
func (p *directPool) get() (st *directStream, ok bool) {
	p.mu.Lock()
	if p.err != nil || (len(p.idle) == 0 && p.open >= maxOpenDirect) {
		p.mu.Unlock()
		return nil, false
	}
	if n := len(p.idle); n > 0 {
		st = p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return st, true
	}
	p.open++
	p.mu.Unlock()
	conn, err := passConn(p.ctl)
	if err != nil {
		p.mu.Lock()
		p.open--
		if p.err == nil {
			p.err = fmt.Errorf("direct channel: %w", err)
		}
		p.mu.Unlock()
		return nil, false
	}
	return newDirectStream(conn), true
}

// put returns a connection after a call: to the idle list when it is
// clean, closed when the call failed half-way (its answer may still come)
// or enough are idle.
func (p *directPool) put(st *directStream, clean bool) {
	p.mu.Lock()
	if clean && p.err == nil && len(p.idle) < maxIdleDirect {
		p.idle = append(p.idle, st)
		p.mu.Unlock()
		return
	}
	p.open--
	p.mu.Unlock()
	_ = st.Close()
}

// call runs one call on a connection of its own: it sends the call's
// frames, then reads the answer itself. ok is false when the pool could
// not take the call.
func (p *directPool) call(ctx context.Context, first *pb.ChannelFrame, body []byte) (r callResult, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return callResult{}, true, status.FromContextError(err).Err()
	}
	st, ok := p.get()
	if !ok {
		return callResult{}, false, nil
	}
	clean := false
	defer func() { p.put(st, clean) }()

	// The ctx's end interrupts the socket's reads and writes.
	stop := context.AfterFunc(ctx, func() { _ = st.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (callResult, bool, error) {
		var fe *frameError
		if errors.As(err, &fe) {
			return callResult{}, true, fe
		}
		if ctx.Err() != nil {
			return callResult{}, true, status.FromContextError(ctx.Err()).Err()
		}
		return callResult{}, true, status.Errorf(codes.Unavailable, "plugin direct channel: %v", err)
	}

	first.CallId = 1
	if dl, ok := ctx.Deadline(); ok {
		first.TimeoutMicros = uint64(max(time.Until(dl).Microseconds(), 1))
	}
	n := min(len(body), ChunkSize)
	first.BodyChunk, body = body[:n], body[n:]
	first.End = len(body) == 0
	if err := st.Send(first); err != nil {
		return fail(err)
	}
	for len(body) > 0 {
		n := min(len(body), ChunkSize)
		if err := st.Send(&pb.ChannelFrame{CallId: 1, BodyChunk: body[:n], End: n == len(body)}); err != nil {
			return fail(err)
		}
		body = body[n:]
	}
	c := &clientCall{data: first.GetDataStart() != nil}
	for {
		f, err := st.recv()
		if err != nil {
			return fail(err)
		}
		if f.GetCallId() != 1 {
			return fail(fmt.Errorf("answer to call %d, want 1", f.GetCallId()))
		}
		if r, done := c.add(f); done {
			if !stop() {
				// The ctx ended as the answer came: the deadline may be
				// set on the socket, so it is not reused.
				return r, true, r.err
			}
			clean = true
			return r, true, r.err
		}
	}
}
