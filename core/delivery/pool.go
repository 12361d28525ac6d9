package delivery

import (
	"context"
	"slices"
	"sync"
	"time"
)

// pool keeps SMTP sessions per destination address (ip:port): at most
// limit open at once, busy or idle, and idle ones for reuse by the next
// message to the same address until idle has passed.
type pool struct {
	limit int
	idle  time.Duration
	mu    sync.Mutex
	dests map[string]*poolDest
	shut  bool
	// waitHook, when set (by tests, before use), is told under the lock how
	// many callers wait at an address each time one starts waiting.
	waitHook func(addr string, waiting int)
}

type poolDest struct {
	open    int        // sessions counted against the limit, busy or idle
	idle    []*session // most recently used last
	waiting int        // callers waiting for a slot
	changed chan struct{}
}

func newPool(limit int, idle time.Duration) *pool {
	return &pool{limit: limit, idle: idle, dests: map[string]*poolDest{}}
}

// get returns an idle session for addr, or nil with a slot reserved for
// the caller to dial (who must then put or drop). It waits while addr is at
// its limit, the caller's route's when limit is above 0 (connection_limit=),
// else the pool's; waited reports that it did, as the caller's message may
// have changed meanwhile.
func (p *pool) get(ctx context.Context, addr string, limit int) (s *session, waited bool, err error) {
	if limit < 1 {
		limit = p.limit
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		d := p.dests[addr]
		if d == nil {
			d = &poolDest{changed: make(chan struct{})}
			p.dests[addr] = d
		}
		if n := len(d.idle); n > 0 {
			s := d.idle[n-1]
			d.idle = d.idle[:n-1]
			s.timer.Stop()
			return s, waited, nil
		}
		if d.open < limit {
			d.open++
			return nil, waited, nil
		}
		ch := d.changed
		waited = true
		d.waiting++
		if p.waitHook != nil {
			p.waitHook(addr, d.waiting)
		}
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		p.mu.Lock()
		d.waiting--
		if err := ctx.Err(); err != nil {
			p.tidy(addr, d)
			return nil, waited, err
		}
	}
}

// put returns a healthy session to the pool for reuse.
func (p *pool) put(s *session) {
	p.mu.Lock()
	d := p.dests[s.addr]
	if p.shut {
		d.open--
		p.signal(s.addr, d)
		p.mu.Unlock()
		s.quit()
		return
	}
	d.idle = append(d.idle, s)
	s.timer = time.AfterFunc(p.idle, func() { p.expire(s) })
	p.signal(s.addr, d)
	p.mu.Unlock()
}

// drop gives up the slot of a session that is broken or was never made
// (s nil), closing s.
func (p *pool) drop(addr string, s *session) {
	p.mu.Lock()
	d := p.dests[addr]
	d.open--
	p.signal(addr, d)
	p.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// expire closes s if it is still idle when its timer fires.
func (p *pool) expire(s *session) {
	p.mu.Lock()
	d := p.dests[s.addr]
	i := -1
	if d != nil {
		i = slices.Index(d.idle, s)
	}
	if i < 0 {
		p.mu.Unlock() // taken for reuse meanwhile
		return
	}
	d.idle = slices.Delete(d.idle, i, i+1)
	d.open--
	p.signal(s.addr, d)
	p.mu.Unlock()
	s.quit()
}

// close quits every idle session; sessions still busy are closed as they
// come back.
func (p *pool) close() {
	p.mu.Lock()
	p.shut = true
	var idle []*session
	for addr, d := range p.dests {
		for _, s := range d.idle {
			s.timer.Stop()
			idle = append(idle, s)
		}
		d.open -= len(d.idle)
		d.idle = nil
		p.signal(addr, d)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range idle {
		wg.Go(s.quit)
	}
	wg.Wait()
}

// signal wakes the waiters of d and forgets d once nothing refers to it.
// Callers hold p.mu.
func (p *pool) signal(addr string, d *poolDest) {
	close(d.changed)
	d.changed = make(chan struct{})
	p.tidy(addr, d)
}

func (p *pool) tidy(addr string, d *poolDest) {
	if d.open == 0 && d.waiting == 0 && len(d.idle) == 0 {
		delete(p.dests, addr)
	}
}
