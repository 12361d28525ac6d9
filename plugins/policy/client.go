package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"
)

// Bounds of an answer. Postfix reads an answer as attr_scan_plain does,
// of any length: each line up to its newline, the attributes other than
// the first action skipped. The action is kept to maxAnswerLine bytes
// (its reply is cut to 512 anyway, RFC 5321 §4.5.3.1.5, and a PREPEND,
// REDIRECT or BCC that long is refused); an answer over maxAnswerBytes
// is a server gone wrong, not read on.
const (
	maxAnswerLine  = 4096
	maxAnswerBytes = 1 << 20
)

// errNoAction is an answer without an action attribute.
var errNoAction = errors.New("answer without action=")

// pool holds the connections to the policy server: one request at a
// time on each, as Postfix's smtpd processes each hold one, and the idle
// ones kept for the next request (SMTPD_POLICY_README: the server must
// not close the connection, so that it serves many requests).
type pool struct {
	set *settings
	now func() time.Time
	// dial opens a connection; tests count them.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle []*conn // the most recently used last
	// slots holds a token for each request under way (nil: no cap).
	slots chan struct{}
}

// conn is one connection to the server.
type conn struct {
	c        net.Conn
	r        *bufio.Reader
	born     time.Time
	used     time.Time // its last request's end
	requests int
}

func newPool(s *settings, now func() time.Time) *pool {
	p := &pool{set: s, now: now}
	var d net.Dialer
	p.dial = d.DialContext
	if s.maxConns > 0 {
		p.slots = make(chan struct{}, s.maxConns)
	}
	return p
}

// get returns an idle connection, prefer when it is one, or a new one;
// a connection past max_idle or max_ttl, or one the server has closed
// (or written to unasked) while it was idle, is closed on the way, as
// Postfix checks it before each request (attr_clnt_request). Each
// request holds one of max_connections' slots until put: a connection
// is made only when none is idle, so that the connections open, idle
// ones too, are never more than the slots.
func (p *pool) get(ctx context.Context, prefer *conn, deadline time.Time) (*conn, error) {
	if err := p.acquire(ctx, deadline); err != nil {
		return nil, err
	}
	now := p.now()
	p.mu.Lock()
	for len(p.idle) > 0 {
		i := len(p.idle) - 1
		for j, c := range p.idle {
			if c == prefer {
				i = j
			}
		}
		c := p.idle[i]
		p.idle = append(p.idle[:i], p.idle[i+1:]...)
		if now.Sub(c.used) >= p.set.maxIdle || now.Sub(c.born) >= p.set.maxTTL || c.stale() {
			_ = c.c.Close()
			continue
		}
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := p.dial(dctx, p.set.network, p.set.addr)
	if err != nil {
		p.release()
		return nil, err
	}
	return &conn{c: nc, r: bufio.NewReaderSize(nc, maxAnswerLine), born: p.now()}, nil
}

// put returns c after a request: kept idle when the request went well
// and c is under request_limit and max_ttl, closed otherwise.
func (p *pool) put(c *conn, ok bool) {
	defer p.release()
	c.requests++
	c.used = p.now()
	if !ok || p.set.requestLimit > 0 && c.requests >= p.set.requestLimit || c.used.Sub(c.born) >= p.set.maxTTL {
		_ = c.c.Close()
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// acquire takes one of max_connections' slots, waiting for one no later
// than deadline: a request that waits for a connection past it would
// miss its own (the stage's timeout, where on_error, not default_action,
// would answer).
func (p *pool) acquire(ctx context.Context, deadline time.Time) error {
	if p.slots == nil {
		return nil
	}
	select {
	case p.slots <- struct{}{}:
		return nil
	default:
	}
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-wait.C:
		return fmt.Errorf("no connection of max_connections (%d) free within the timeout", p.set.maxConns)
	case <-ctx.Done():
		return fmt.Errorf("waiting for one of max_connections: %w", ctx.Err())
	}
}

func (p *pool) release() {
	if p.slots != nil {
		<-p.slots
	}
}

// sweep closes the idle connections past max_idle or max_ttl, so that
// the server is not left holding them when no mail comes, and returns
// how long until the first of those left is (0: none is left).
func (p *pool) sweep() time.Duration {
	now := p.now()
	p.mu.Lock()
	var keep, gone []*conn
	var next time.Duration
	for _, c := range p.idle {
		due := min(c.used.Add(p.set.maxIdle).Sub(now), c.born.Add(p.set.maxTTL).Sub(now))
		if due <= 0 {
			gone = append(gone, c)
			continue
		}
		keep = append(keep, c)
		if next == 0 || due < next {
			next = due
		}
	}
	p.idle = keep
	p.mu.Unlock()
	for _, c := range gone {
		_ = c.c.Close()
	}
	return next
}

// closeAll closes the idle connections (Configure again, a test's end).
func (p *pool) closeAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		_ = c.c.Close()
	}
}

// ask sends req on c and reads the answer's action, all by deadline. A
// connection the server closed (or reset) without a byte of an answer
// is an unansweredError: a kept one the server closed after the look
// before the request (a server that closes after each answer, its
// process still exiting when the next request came).
func (c *conn) ask(req []byte, deadline time.Time) (string, error) {
	if err := c.c.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := c.c.Write(req); err != nil {
		return "", unanswered(fmt.Errorf("sending the request: %w", err))
	}
	if _, err := c.r.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return "", &unansweredError{errors.New("connection closed before the answer")}
		}
		return "", unanswered(fmt.Errorf("reading the answer: %w", err))
	}
	return readAnswer(c.r)
}

// unansweredError is a request the server closed its connection on
// without answering.
type unansweredError struct{ err error }

func (e *unansweredError) Error() string { return e.err.Error() }
func (e *unansweredError) Unwrap() error { return e.err }

// unanswered is err, an unansweredError when it says the server closed
// or reset the connection.
func unanswered(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return &unansweredError{err}
	}
	return err
}

// readAnswer reads name=value lines up to the empty line and returns the
// first action's value, as Postfix's attr_scan_plain reads the answer
// for check_policy_service (ATTR_FLAG_MISSING, not ATTR_FLAG_EXTRA):
// other attributes, lines without "=" and a second action are skipped
// over, whatever their length. An answer without an action, an action
// without "=" (no value) and an action that is not UTF-8 (Postfix's
// valid_utf8_action) make it unusable. A CR before the LF is taken as
// part of the line break.
func readAnswer(r *bufio.Reader) (string, error) {
	action, have, read := "", false, 0
	for {
		line, cut, err := readLine(r, &read)
		if err != nil {
			return "", err
		}
		if len(line) == 0 && !cut {
			if !have {
				return "", errNoAction
			}
			return action, nil
		}
		name, value, ok := bytes.Cut(line, []byte("="))
		switch {
		case have || string(name) != "action":
			continue
		case !ok:
			return "", errors.New("action without a value")
		}
		if cut {
			value = trimPartialRune(value)
		}
		if !utf8.Valid(value) {
			return "", fmt.Errorf("action not UTF-8: %q", truncate(value))
		}
		action, have = string(value), true
	}
}

// readLine reads a line, keeping its first maxAnswerLine bytes (cut: it
// had more), without the LF and a CR before it; read counts the
// answer's bytes against maxAnswerBytes.
func readLine(r *bufio.Reader, read *int) (line []byte, cut bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		*read += len(chunk)
		if *read > maxAnswerBytes {
			return nil, false, fmt.Errorf("answer longer than %d bytes", maxAnswerBytes)
		}
		end := err == nil
		if end {
			chunk = bytes.TrimSuffix(chunk, []byte("\n"))
		}
		if room := maxAnswerLine - len(line); len(chunk) > room {
			line, cut = append(line, chunk[:room]...), true
		} else {
			line = append(line, chunk...)
		}
		switch {
		case end:
			if !cut {
				line = bytes.TrimSuffix(line, []byte("\r"))
			}
			return line, cut, nil
		case errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil, false, errors.New("connection closed before the end of the answer")
		default:
			return nil, false, fmt.Errorf("reading the answer: %w", err)
		}
	}
}

// trimPartialRune takes off the end of b what is left of a UTF-8
// sequence that a cut split.
func trimPartialRune(b []byte) []byte {
	for range utf8.UTFMax - 1 {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return b
}

func truncate(b []byte) []byte {
	if len(b) > 100 {
		return b[:100]
	}
	return b
}
