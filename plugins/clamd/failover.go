package clamd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// deadPause is how long a socket that could not be connected to goes to
// the back of the order: a clamd that is down would otherwise cost each
// message its connect timeout before the next socket is tried.
const deadPause = 30 * time.Second

// connectTimeout bounds connecting to one socket, within the scan's
// timeout, so that a clamd host that drops packets leaves time for the
// next socket (Haraka's clamd connect_timeout is a separate bound too).
const connectTimeout = 5 * time.Second

// socket is one clamd as configured.
type socket struct {
	spec          string // as the operator wrote it, for errors
	network, addr string
}

// socketList is the sockets tried in turn, as Haraka's clamd_socket
// list: the first that accepts the connection scans the message.
type socketList struct {
	socks []socket
	now   func() time.Time // time.Now; a test's clock

	mu        sync.Mutex
	deadUntil []time.Time // per socket: end of its pause after a failed connect
}

func newSocketList(socks []socket) *socketList {
	return &socketList{socks: socks, now: time.Now, deadUntil: make([]time.Time, len(socks))}
}

// order is the indexes to try: the sockets not in their pause, in the
// configured order, then those that are. A paused socket is still
// tried when none before it answers, so that the only clamd there is,
// restarted, is used again at once.
func (l *socketList) order() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	live := make([]int, 0, len(l.socks))
	var paused []int
	for i := range l.socks {
		if now.Before(l.deadUntil[i]) {
			paused = append(paused, i)
		} else {
			live = append(live, i)
		}
	}
	return append(live, paused...)
}

// mark records whether connecting to socket i failed.
func (l *socketList) mark(i int, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failed {
		l.deadUntil[i] = l.now().Add(deadPause)
	} else {
		l.deadUntil[i] = time.Time{}
	}
}

// dial connects to the first socket that accepts, in order. Only a
// failure to connect moves on: once connected, clamd's answer (or its
// failure) is the scan's. A call that ends (the scan's timeout, the
// core giving up) stops the tries without pausing the socket it was at.
func (l *socketList) dial(ctx context.Context) (net.Conn, socket, error) {
	var errs []string
	for _, i := range l.order() {
		s := l.socks[i]
		dctx, cancel := context.WithTimeout(ctx, connectTimeout)
		var d net.Dialer
		conn, err := d.DialContext(dctx, s.network, s.addr)
		cancel()
		if err == nil {
			l.mark(i, false)
			return conn, s, nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", s.spec, err))
		if ctx.Err() != nil {
			break
		}
		l.mark(i, true)
	}
	if len(l.socks) == 1 {
		return nil, socket{}, errors.New("clamd " + errs[0])
	}
	return nil, socket{}, fmt.Errorf("clamd: no socket could be connected to: %s", strings.Join(errs, "; "))
}
