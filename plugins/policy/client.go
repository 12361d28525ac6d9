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
	"time"
	"unicode/utf8"
)

// Bounds of an answer: Postfix's is one attribute and an empty line; a
// server that sends more than this is broken, and is not read on
// (SMTPD_POLICY_README has it never send more than a line of it).
const (
	maxAnswerLine  = 4096
	maxAnswerLines = 64
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
	if p.slots != nil {
		select {
		case p.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for one of max_connections: %w", ctx.Err())
		}
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

func (p *pool) release() {
	if p.slots != nil {
		<-p.slots
	}
}

// sweep closes the idle connections past max_idle or max_ttl, so that
// the server is not left holding them when no mail comes.
func (p *pool) sweep() {
	now := p.now()
	p.mu.Lock()
	var keep, gone []*conn
	for _, c := range p.idle {
		if now.Sub(c.used) >= p.set.maxIdle || now.Sub(c.born) >= p.set.maxTTL {
			gone = append(gone, c)
		} else {
			keep = append(keep, c)
		}
	}
	p.idle = keep
	p.mu.Unlock()
	for _, c := range gone {
		_ = c.c.Close()
	}
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

// ask sends req on c and reads the answer's action, all by deadline.
func (c *conn) ask(req []byte, deadline time.Time) (string, error) {
	if err := c.c.SetDeadline(deadline); err != nil {
		return "", err
	}
	if _, err := c.c.Write(req); err != nil {
		return "", fmt.Errorf("sending the request: %w", err)
	}
	return readAnswer(c.r)
}

// readAnswer reads name=value lines up to the empty line and returns the
// action's value. Attributes other than action are ignored; a line
// without "=", one longer than maxAnswerLine, more than maxAnswerLines
// of them, a second action and an action that is not UTF-8 (Postfix's
// valid_utf8_action) make the answer unusable. A CR before the LF is
// taken as part of the line break.
func readAnswer(r *bufio.Reader) (string, error) {
	action, have := "", false
	for n := 0; ; n++ {
		if n > maxAnswerLines {
			return "", fmt.Errorf("answer of more than %d lines", maxAnswerLines)
		}
		line, err := r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return "", fmt.Errorf("answer line longer than %d bytes", maxAnswerLine)
		case errors.Is(err, io.EOF):
			return "", errors.New("connection closed before the end of the answer")
		case err != nil:
			return "", fmt.Errorf("reading the answer: %w", err)
		}
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) == 0 {
			if !have {
				return "", errNoAction
			}
			return action, nil
		}
		name, value, ok := bytes.Cut(line, []byte("="))
		switch {
		case !ok || len(name) == 0:
			return "", fmt.Errorf("malformed answer line %q", truncate(line))
		case string(name) != "action":
			continue
		case have:
			return "", errors.New("answer with two actions")
		case !utf8.Valid(value):
			return "", fmt.Errorf("action not UTF-8: %q", truncate(value))
		}
		action, have = string(value), true
	}
}

func truncate(b []byte) []byte {
	if len(b) > 100 {
		return b[:100]
	}
	return b
}
