package admin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// noAnswer is the error for a request that got no HTTP answer from where.
// Most such failures mean the daemon is down or cut off (ErrUnreachable,
// exit 2). But an address whose server answered in another protocol is
// reachable: it is the wrong address (Sluice's own SMTP listener passed as
// --admin, an https:// URL for the plain-HTTP API), a user error like an
// answer that is not the API's JSON (notJSON), and a script reading exit 2
// as "the daemon is down" must not restart a running one for it.
func noAnswer(where string, err error) error {
	if !otherProtocol(err) {
		return fmt.Errorf("%w at %s: %v", ErrUnreachable, where, err)
	}
	if errors.Is(err, errSpokeFirst) {
		err = errSpokeFirst // the transport's wrapping says nothing more
	} else if ue := (*url.Error)(nil); errors.As(err, &ue) {
		err = ue.Err // the method and URL say where again
	}
	return fmt.Errorf("admin API at %s answered in another protocol (%v): is this Sluice's admin address?", where, err)
}

// otherProtocol reports whether err says the server answered, but not in
// the protocol asked: it spoke before the request, its answer is no HTTP
// response (net/http has no typed error for that, only these messages),
// plain HTTP to https://, or no TLS record.
func otherProtocol(err error) bool {
	var rh tls.RecordHeaderError
	return errors.Is(err, errSpokeFirst) || errors.Is(err, http.ErrSchemeMismatch) ||
		errors.As(err, &rh) || strings.Contains(err.Error(), "malformed HTTP ")
}

// errSpokeFirst is a server that sent something before it was sent the
// request: an HTTP server only answers requests (RFC 9110 §3.4), while an
// SMTP server greets first (RFC 5321 §3.1).
var errSpokeFirst = errors.New("it spoke before it was asked, as an SMTP server does and an HTTP server never does")

// newTransport is the client's HTTP transport: the default one, with its
// connections watched for a server that speaks first. Without that, such
// a server's greeting races the request: read after it, it is a malformed
// answer; read before it, net/http drops the connection as "unsolicited"
// with a log line of its own and an error that names no protocol.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &askedFirstConn{Conn: c}, nil
	}
	return t
}

// askedFirstConn fails the first read of bytes that arrived before
// anything was written with errSpokeFirst. Under TLS it sees the records,
// and the client's hello is written first.
type askedFirstConn struct {
	net.Conn
	wrote atomic.Bool
}

func (c *askedFirstConn) Write(p []byte) (int, error) {
	c.wrote.Store(true)
	return c.Conn.Write(p)
}

func (c *askedFirstConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.wrote.Load() {
		return 0, errSpokeFirst
	}
	return n, err
}
