// Package failover dials the first of several servers that accepts the
// connection, as Haraka's clamd_socket and spamd_socket lists: the clamd
// and spamd stages' sockets = [...] and addresses = [...]. One that
// could not be connected to goes to the back of the order for a while,
// so that a server that is down costs one message its connect timeout,
// not each.
package failover

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// Pause is how long an endpoint that could not be connected to goes to
// the back of the order: a server that is down would otherwise cost each
// message its connect timeout before the next endpoint is tried.
const Pause = 30 * time.Second

// ConnectTimeout bounds connecting to one endpoint, within the caller's
// timeout, so that a host that drops packets leaves time for the next
// endpoint (Haraka's clamd connect_timeout is a separate bound too).
const ConnectTimeout = 5 * time.Second

// Endpoint is one server as configured.
type Endpoint struct {
	Spec    string // as the operator wrote it, for errors
	Network string // for net.Dial: "unix" or "tcp"
	Address string
}

// List is the endpoints tried in turn: the first that accepts the
// connection gets the request.
type List struct {
	// Now is the clock of the pauses: time.Now, or a test's, set before
	// the first Dial.
	Now func() time.Time

	server, noun string // "clamd", "socket": what errors call them
	eps          []Endpoint

	mu        sync.Mutex
	deadUntil []time.Time // per endpoint: end of its pause after a failed connect
}

// New returns the list of eps, in order. server names the kind of server
// at the start of Dial's errors ("clamd"), noun what an endpoint is
// called in the configuration ("socket", "address").
func New(server, noun string, eps []Endpoint) *List {
	return &List{Now: time.Now, server: server, noun: noun, eps: eps, deadUntil: make([]time.Time, len(eps))}
}

// Endpoints is the list as configured.
func (l *List) Endpoints() []Endpoint { return l.eps }

// order is the indexes to try: the endpoints not in their pause, in the
// configured order, then those that are. A paused endpoint is still
// tried when none before it answers, so that the only server there is,
// restarted, is used again at once.
func (l *List) order() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	live := make([]int, 0, len(l.eps))
	var paused []int
	for i := range l.eps {
		if now.Before(l.deadUntil[i]) {
			paused = append(paused, i)
		} else {
			live = append(live, i)
		}
	}
	return append(live, paused...)
}

// mark records whether connecting to endpoint i failed.
func (l *List) mark(i int, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failed {
		l.deadUntil[i] = l.Now().Add(Pause)
	} else {
		l.deadUntil[i] = time.Time{}
	}
}

// Dial connects to the first endpoint that accepts, in order. Only a
// failure to connect moves on: once connected, the server's answer (or
// its failure) is the caller's. A call that ends (the caller's timeout,
// the core giving up) stops the tries without pausing the endpoint it
// was at. Its error names each endpoint tried, with what connecting to
// it gave, passed through explain when that is not nil (spamd's says a
// timeout is one).
func (l *List) Dial(ctx context.Context, explain func(error) error) (net.Conn, Endpoint, error) {
	var errs []string
	for _, i := range l.order() {
		e := l.eps[i]
		dctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
		var d net.Dialer
		conn, err := d.DialContext(dctx, e.Network, e.Address)
		cancel()
		if err == nil {
			l.mark(i, false)
			return conn, e, nil
		}
		if explain != nil {
			err = explain(err)
		}
		errs = append(errs, fmt.Sprintf("%s: %v", e.Spec, err))
		if ctx.Err() != nil {
			break
		}
		l.mark(i, true)
	}
	if len(l.eps) == 1 {
		return nil, Endpoint{}, fmt.Errorf("%s %s", l.server, errs[0])
	}
	return nil, Endpoint{}, fmt.Errorf("%s: no %s could be connected to: %s", l.server, l.noun, strings.Join(errs, "; "))
}
