package spamd

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// deadPause is how long an address that could not be connected to goes
// to the back of the order: a spamd that is down would otherwise cost
// each message its connect timeout before the next address is tried.
const deadPause = 30 * time.Second

// connectTimeout bounds connecting to one address, within the scan's
// timeout, so that a spamd host that drops packets leaves time for the
// next one.
const connectTimeout = 5 * time.Second

// address is one spamd as configured.
type address struct {
	spec          string // as the operator wrote it, for errors
	network, addr string
}

// addressList is the spamd tried in turn, as Haraka's spamd_socket list:
// the first that accepts the connection scans the message.
type addressList struct {
	addrs []address
	now   func() time.Time // time.Now; a test's clock

	mu        sync.Mutex
	deadUntil []time.Time // per address: end of its pause after a failed connect
}

func newAddressList(addrs []address) *addressList {
	return &addressList{addrs: addrs, now: time.Now, deadUntil: make([]time.Time, len(addrs))}
}

// order is the indexes to try: the addresses not in their pause, in the
// configured order, then those that are. A paused address is still
// tried when none before it answers, so that the only spamd there is,
// restarted, is used again at once.
func (l *addressList) order() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	live := make([]int, 0, len(l.addrs))
	var paused []int
	for i := range l.addrs {
		if now.Before(l.deadUntil[i]) {
			paused = append(paused, i)
		} else {
			live = append(live, i)
		}
	}
	return append(live, paused...)
}

// mark records whether connecting to address i failed.
func (l *addressList) mark(i int, failed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if failed {
		l.deadUntil[i] = l.now().Add(deadPause)
	} else {
		l.deadUntil[i] = time.Time{}
	}
}

// dial connects to the first address that accepts, in order. Only a
// failure to connect moves on: once connected, spamd's answer (or its
// failure) is the scan's. A call that ends (the scan's timeout, the
// client gone) stops the tries without pausing the address it was at.
// Its error names each address tried, with what connecting to it gave.
func (l *addressList) dial(parent, ctx context.Context, timeout time.Duration) (net.Conn, address, error) {
	var errs []string
	for _, i := range l.order() {
		a := l.addrs[i]
		dctx, cancel := context.WithTimeout(ctx, connectTimeout)
		var d net.Dialer
		c, err := d.DialContext(dctx, a.network, a.addr)
		cancel()
		if err == nil {
			l.mark(i, false)
			return c, a, nil
		}
		errs = append(errs, fmt.Sprintf("%s: %v", a.spec, timeoutErr(parent, ctx, timeout, err)))
		if ctx.Err() != nil {
			break
		}
		l.mark(i, true)
	}
	if len(l.addrs) == 1 {
		return nil, address{}, fmt.Errorf("spamd %s", errs[0])
	}
	return nil, address{}, fmt.Errorf("spamd: no address could be connected to: %s", strings.Join(errs, "; "))
}
