package sdk

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The direct channel carries calls over unix sockets the core hands the
// plugin process (InitRequest.direct_channel_fd), without gRPC: each frame
// is a ChannelFrame preceded by its length as a varint. The core keeps a
// pool of connections, one call at a time on each (direct_pool.go), so a
// call costs one write and one read on each side, and the answer wakes
// the goroutine waiting for it: no HTTP/2 framing or flow control, no
// hand-off through gRPC's reader and writer goroutines or a demultiplexing
// reader of our own. On a loaded machine those hand-offs were most of a
// no-op stage's cost.

// maxDirectFrame bounds a frame read from the direct channel: a body chunk
// and a frame of any other kind, with room for their framing.
const maxDirectFrame = ChunkSize + MaxFrameSize + 4096

// frameStream is what a channel end sends and receives frames over: a
// gRPC Channel stream or a direct socket.
type frameStream interface {
	Send(*pb.ChannelFrame) error
	Recv() (*pb.ChannelFrame, error)
}

// streamConn is a direct channel connection: a unix socket, or a pair
// of pipes (pipeConn).
type streamConn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

// directStream is one end of a direct channel connection. Each half has
// one user at a time: the caller holding the connection on the core's
// side; the reader and the call it runs on the plugin's.
type directStream struct {
	conn streamConn
	io   *socketIO
	// rbuf[rpos:rend] is read from the socket and not yet decoded.
	rbuf       []byte
	rpos, rend int
	wbuf       []byte
	ctx        context.Context
	stop       context.CancelFunc

	// On the core's end: whether the socket has a deadline, and the
	// cancellation that interrupts its calls (see directPool.call).
	deadline bool
	// deferLast: the plugin's end writes a call's last answer frame from
	// inside the wait for the next call (see Send).
	deferLast bool
	watched   <-chan struct{} // written under mu: interrupt reads it
	unwatch   func() bool
	mu        sync.Mutex
	busy      bool // a call is in progress; guarded by mu
	// an end of watched set the deadline in the past; guarded by mu
	interrupted bool
}

// directBufSize is a connection's read buffer, and the most of a larger
// frame's write buffer it keeps for the next frame: enough for a typical
// message's frames, small enough that the idle connections of a pool hold
// little memory.
const directBufSize = 16 << 10

func newDirectStream(conn streamConn) *directStream {
	ctx, cancel := context.WithCancel(context.Background())
	return &directStream{conn: conn, io: newSocketIO(conn), ctx: ctx, stop: cancel}
}

// Context is done when the stream is closed or broken.
func (d *directStream) Context() context.Context { return d.ctx }

// Close ends the stream: the peer's reads see the end, ours fail.
func (d *directStream) Close() error {
	d.stop()
	if d.unwatch != nil {
		d.unwatch()
	}
	return d.conn.Close()
}

// frameError is a frame refused before any of it was written: the
// connection is intact, the call fails.
type frameError struct{ err error }

func (e *frameError) Error() string { return "frame " + e.err.Error() }
func (e *frameError) Unwrap() error { return e.err }

// bodyTag is body_chunk's key on the wire (field 7, bytes).
var bodyTag = protowire.AppendTag(nil, 7, protowire.BytesType)

// sendEncoded writes one frame of a call: the request encode appends,
// the call's id (1), its remaining time, the first body chunk and end, as
// Send would write the same frame as a message.
//
// appendCallFields appends a core frame's fields after its request:
// call_id 1 (a direct connection carries one call at a time), the
// call's timeout on its first frame, end on its last.
func appendCallFields(b []byte, timeout uint64, end bool) []byte {
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	if timeout > 0 {
		b = protowire.AppendTag(b, 9, protowire.VarintType)
		b = protowire.AppendVarint(b, timeout)
	}
	if end {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b
}

// A call's last frame (end) that is small and finds nothing left unread
// goes out from inside the wait for the answer (socketIO.writeBeforeRead):
// one system call fewer per call.
func (d *directStream) sendEncoded(encode func([]byte) ([]byte, error), timeout uint64, chunk []byte, end bool) error {
	// Room for the length in front, filled in once it is known: a frame
	// (under maxDirectFrame) needs at most four bytes.
	const room = 4
	b := append(d.wbuf[:0], 0, 0, 0, 0) // room bytes
	b, err := encode(b)
	if err != nil {
		return &frameError{fmt.Errorf("cannot be encoded: %w", err)}
	}
	b = appendCallFields(b, timeout, end)
	size, err := frameSize(len(b)-room, chunk)
	if err != nil {
		return err
	}
	b = appendChunkHead(b, chunk)
	at := room - protowire.SizeVarint(uint64(size))
	protowire.AppendVarint(b[at:at], uint64(size))
	if end && d.rpos == d.rend && len(b)+len(chunk) <= directBufSize {
		b = append(b, chunk...)
		d.wbuf = b
		d.io.writeBeforeRead(b[at:])
		return nil
	}
	return d.write(b, at, chunk)
}

// Send writes f as one length-prefixed frame, in one write(2) unless it
// carries a large body chunk. That chunk is not copied into the encoding:
// the frame's other fields are encoded, then the chunk is written after
// them as field 7 (field order does not matter to a protobuf decoder).
//
// On the plugin's end (deferLast) a plain answer that ends a call, with
// nothing of the next call read yet, goes out from inside the next
// Recv's wait (socketIO.writeBeforeRead), as the core's last request
// frame does: the core sends a connection's next call only after this
// answer, so the read that would find nothing yet (EAGAIN) is not made.
func (d *directStream) Send(f *pb.ChannelFrame) error {
	if b, ok := appendPlainFrame(d.wbuf[:0], f); ok {
		if d.deferLast && f.GetEnd() && d.rpos == d.rend {
			d.wbuf = b
			d.io.writeBeforeRead(b)
			return nil
		}
		return d.write(b, 0, nil)
	}
	chunk := f.BodyChunk
	f.BodyChunk = nil
	size, err := frameSize(proto.Size(f), chunk)
	if err != nil {
		f.BodyChunk = chunk
		return err
	}
	b := protowire.AppendVarint(d.wbuf[:0], uint64(size))
	b, err = proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(b, f)
	f.BodyChunk = chunk
	if err != nil {
		return &frameError{fmt.Errorf("cannot be encoded: %w", err)}
	}
	return d.write(appendChunkHead(b, chunk), 0, chunk)
}

// frameSize is the length of a frame whose fields but its body chunk take
// head bytes; a head over MaxFrameSize is refused.
func frameSize(head int, chunk []byte) (int, error) {
	if head > MaxFrameSize {
		return 0, &frameError{fmt.Errorf("%d bytes, %w (%d bytes)", head, ErrFrameTooLarge, MaxFrameSize)}
	}
	if len(chunk) > 0 {
		head += len(bodyTag) + protowire.SizeVarint(uint64(len(chunk))) + len(chunk)
	}
	return head, nil
}

// appendChunkHead appends the key and length of chunk as body_chunk; the
// chunk's bytes follow it on the wire.
func appendChunkHead(b, chunk []byte) []byte {
	if len(chunk) == 0 {
		return b
	}
	return protowire.AppendVarint(append(b, bodyTag...), uint64(len(chunk)))
}

// write writes b[from:], the frame's head, and chunk, its body chunk, in
// one write(2) when chunk is small, keeping b for the next frame.
func (d *directStream) write(b []byte, from int, chunk []byte) error {
	if cap(b) <= directBufSize {
		d.wbuf = b // keep the buffer for the next frame
	}
	var err error
	if len(chunk) >= 16<<10 {
		if err = d.io.write(b[from:]); err == nil {
			err = d.io.write(chunk)
		}
	} else {
		// A small chunk is cheaper copied than written by a second call.
		b = append(b, chunk...)
		if cap(b) <= directBufSize {
			d.wbuf = b
		}
		err = d.io.write(b[from:])
	}
	if err != nil {
		d.stop()
		if isClosed(err) {
			return io.EOF
		}
		return err
	}
	return nil
}

// Recv reads one frame. The frame owns its bytes (the decoder copies
// them out of the read buffer, which is reused).
func (d *directStream) Recv() (*pb.ChannelFrame, error) {
	f, err := d.recv()
	if err != nil {
		d.stop()
	}
	return f, err
}

func (d *directStream) recv() (*pb.ChannelFrame, error) {
	var n uint64
	for {
		var k int
		n, k = binary.Uvarint(d.rbuf[d.rpos:d.rend])
		if k > 0 {
			d.rpos += k
			break
		}
		if k < 0 {
			return nil, errors.New("direct channel: bad frame length")
		}
		if err := d.fill(); err != nil {
			return nil, err
		}
	}
	if n > maxDirectFrame {
		return nil, fmt.Errorf("direct channel: %d-byte frame, over the %d-byte limit", n, maxDirectFrame)
	}
	buf, err := d.frame(int(n))
	if err != nil {
		return nil, err
	}
	if f, ok := plainFrame(buf); ok {
		return f, nil
	}
	if f, ok := decodeCallFrame(buf); ok {
		return f, nil
	}
	f := new(pb.ChannelFrame)
	if err := proto.Unmarshal(buf, f); err != nil {
		return nil, fmt.Errorf("direct channel: bad frame: %w", err)
	}
	return f, nil
}

// fill reads what the socket has into the read buffer, after what is
// buffered.
func (d *directStream) fill() error {
	if d.rbuf == nil {
		d.rbuf = make([]byte, directBufSize)
	}
	if d.rpos == d.rend {
		d.rpos, d.rend = 0, 0
	} else if d.rend == len(d.rbuf) {
		d.rend = copy(d.rbuf, d.rbuf[d.rpos:d.rend])
		d.rpos = 0
	}
	k, err := d.read(d.rbuf[d.rend:])
	d.rend += k
	return err
}

// frame returns the next n bytes: in the read buffer when they fit, else
// in a buffer of their own.
func (d *directStream) frame(n int) ([]byte, error) {
	if n <= d.rend-d.rpos {
		b := d.rbuf[d.rpos : d.rpos+n]
		d.rpos += n
		return b, nil
	}
	if n <= directBufSize {
		if d.rbuf == nil {
			d.rbuf = make([]byte, directBufSize)
		}
		if n > len(d.rbuf)-d.rpos {
			d.rend = copy(d.rbuf, d.rbuf[d.rpos:d.rend])
			d.rpos = 0
		}
		for d.rend-d.rpos < n {
			k, err := d.read(d.rbuf[d.rend:])
			d.rend += k
			if err != nil {
				return nil, err
			}
		}
		b := d.rbuf[d.rpos : d.rpos+n]
		d.rpos += n
		return b, nil
	}
	// A large frame (a body chunk): read it into a buffer of its own.
	b := make([]byte, n)
	have := copy(b, d.rbuf[d.rpos:d.rend])
	d.rpos, d.rend = 0, 0
	for have < n {
		k, err := d.read(b[have:])
		have += k
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// read reads at least one byte into b; the stream's end or a closed
// socket is io.EOF.
func (d *directStream) read(b []byte) (int, error) {
	k, err := d.io.read(b)
	if err != nil {
		// On the plugin's end a broken pipe is the last answer's, written
		// from inside this wait (Send, deferLast) after the core closed
		// the connection, giving up on the call: the stream has ended, as
		// the read would have found (serveDirect logs no warning for it).
		if isClosed(err) || (d.deferLast && errors.Is(err, syscall.EPIPE)) {
			err = io.EOF
		}
		return 0, err
	}
	if k == 0 {
		return 0, io.EOF
	}
	return k, nil
}

// isClosed reports whether err is that of our end of the connection,
// closed: a socket's (net) or a pipe's (os).
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// directConnFromFD turns the inherited descriptor fd into a connection.
func directConnFromFD(fd uint32) (*net.UnixConn, error) {
	f := os.NewFile(uintptr(fd), "sluice-direct-channel")
	if f == nil {
		return nil, fmt.Errorf("descriptor %d is not valid", fd)
	}
	defer f.Close() // FileConn has its own duplicate
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor %d: %w", fd, err)
	}
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("descriptor %d is not a unix socket", fd)
	}
	return uc, nil
}

// directPair is the core's end of a direct channel before Init: the
// connection, and the plugin's end, which the core closes once the
// process has inherited it.
type directPair struct {
	conn  *net.UnixConn
	child *os.File
	fd    uint32 // the plugin's end's descriptor in the plugin process
}

// started closes the core's copy of the plugin's end, so the core sees
// the connection end when the plugin process does.
func (p *directPair) started() { _ = p.child.Close() }

// close drops the pair unused.
func (p *directPair) close() {
	_ = p.child.Close()
	_ = p.conn.Close()
}
