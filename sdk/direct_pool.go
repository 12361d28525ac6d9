package sdk

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
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
	ctl   *net.UnixConn
	pipes bool // connections are pipe pairs (InitResponse.direct_pipes)

	// maxBody bounds a replaced body (Client.SetMaxBody); 0: DefaultMaxBody.
	maxBody int64

	mu   sync.Mutex
	idle []*directStream
	open int
	err  error // the control socket failed: no new connections
}

func newDirectPool(ctl *net.UnixConn, pipes bool) *directPool {
	return &directPool{ctl: ctl, pipes: pipes}
}

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
	var conn streamConn
	var err error
	if p.pipes {
		conn, err = passPipes(p.ctl)
	} else {
		conn, err = passConn(p.ctl)
	}
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
// frames, the first with the request encode appends (the frame's oneof
// member) and then the rest of body, and reads the answer itself; data
// says the answer may carry a body. ok is false when the pool could not
// take the call.
func (p *directPool) call(ctx context.Context, encode func([]byte) ([]byte, error), data bool, body []byte) (r callResult, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return callResult{}, true, status.FromContextError(err).Err()
	}
	// The socket's deadline is the call's. A deadline-only context
	// (WithCallTimeout) needs no timer of its own then, and only its
	// parent's end has to interrupt the call; any other context's end
	// does.
	watch, own := ctx, true
	dl, hasDL := ctx.Deadline()
	if cc, ok := ctx.(*callCtx); ok {
		if parent, d, ok := cc.untimed(); ok {
			watch, own, dl, hasDL = parent, false, d, true
		}
	}
	st, ok := p.get()
	if !ok {
		return callResult{}, false, nil
	}
	clean := false
	defer func() { p.put(st, clean) }()
	fail := func(err error) (callResult, bool, error) {
		var fe *frameError
		if errors.As(err, &fe) {
			return callResult{}, true, fe
		}
		if err := ctx.Err(); err != nil {
			return callResult{}, true, status.FromContextError(err).Err()
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return callResult{}, true, status.Error(codes.DeadlineExceeded, context.DeadlineExceeded.Error())
		}
		return callResult{}, true, status.Errorf(codes.Unavailable, "plugin direct channel: %v", err)
	}
	if hasDL || st.deadline {
		_ = st.conn.SetDeadline(dl) // the zero time clears the last call's
		st.deadline = hasDL
	}
	st.begin(watch)
	defer func() {
		// When watch ended as the answer came, the socket's deadline may
		// be in the past: the connection is not reused.
		if !st.end(own) {
			clean = false
		}
	}()
	if err := watch.Err(); err != nil {
		return fail(err) // it ended before begin could see it
	}

	var timeout uint64
	if hasDL {
		timeout = uint64(max(time.Until(dl).Microseconds(), 1))
	}
	n := min(len(body), ChunkSize)
	chunk, body := body[:n], body[n:]
	if err := st.sendEncoded(encode, timeout, chunk, len(body) == 0); err != nil {
		return fail(err)
	}
	for len(body) > 0 {
		n := min(len(body), ChunkSize)
		if err := st.Send(&pb.ChannelFrame{CallId: 1, BodyChunk: body[:n], End: n == len(body)}); err != nil {
			return fail(err)
		}
		body = body[n:]
	}
	c := &clientCall{data: data, maxBody: p.maxBody}
	for {
		f, err := st.recv()
		if err != nil {
			return fail(err)
		}
		if f.GetCallId() != 1 {
			return fail(fmt.Errorf("answer to call %d, want 1", f.GetCallId()))
		}
		if r, done := c.add(f); done {
			// An answer that failed before its last frame (a body over
			// the limit) leaves the rest of it to come on this
			// connection, which the next call would read as its own.
			clean = f.GetEnd()
			return r, true, r.err
		}
	}
}

// begin marks the start of a call, which the end of watch interrupts by
// setting the socket's deadline in the past. The registration with watch
// stays for the next calls with the same cancellation (in the core every
// call's is the SMTP server's context, the parent of its deadline-only
// one), so a call does not register and unregister with a context that
// every session shares; an end while no call runs interrupts nothing.
//
// A context that ended starts its interrupt in a goroutine of its own,
// which a loaded machine may run only after the next call, with another
// cancellation, began: interrupt leaves that call alone (a bounce hook's
// context, ended as its call returned, failed the deliver hook's next
// call on the connection with DeadlineExceeded).
func (d *directStream) begin(watch context.Context) {
	done := watch.Done()
	rewatch := done != d.watched || (done != nil && d.unwatch == nil)
	if rewatch && d.unwatch != nil {
		d.unwatch()
		d.unwatch = nil
	}
	d.mu.Lock()
	d.watched = done
	d.busy, d.interrupted = true, false
	d.mu.Unlock()
	if rewatch && done != nil {
		d.unwatch = context.AfterFunc(watch, func() { d.interrupt(done) })
	}
}

// end marks the end of a call and reports whether the connection is
// still fit for another (no interruption set its deadline in the past).
// once drops the registration with the call's context: it is the call's
// own, which is about to end.
func (d *directStream) end(once bool) bool {
	d.mu.Lock()
	ok := !d.interrupted
	d.busy = false
	unwatch := d.unwatch
	if once {
		d.watched, d.unwatch = nil, nil
	}
	d.mu.Unlock()
	if once && unwatch != nil {
		unwatch()
	}
	return ok
}

// interrupt fails the call in progress, if any, when done, the channel of
// the context whose end called it, is still the one watched.
func (d *directStream) interrupt(done <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.busy && d.watched == done {
		d.interrupted = true
		_ = d.conn.SetDeadline(time.Unix(1, 0))
	}
}
