package verify

import "sync"

// flights runs one probe an address at a time: the RCPTs for an address
// whose probe is under way wait for its answer rather than ask the next
// hop again (a message to a list, a dictionary attack's retries).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one probe; ans is set when done is closed.
type flight struct {
	done chan struct{}
	ans  answer
}

// get returns key's flight under way, or nil.
func (g *flights) get(key string) *flight {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[key]
}

// do returns key's flight under way, started false, or starts fn as a
// new one. fn runs on its own: it goes on, and keeps its result, when
// every RCPT waiting for it has given up.
func (g *flights) do(key string, fn func() answer) (f *flight, started bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return f, false
	}
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	f = &flight{done: make(chan struct{})}
	g.m[key] = f
	go func() {
		f.ans = fn()
		g.mu.Lock()
		delete(g.m, key)
		g.mu.Unlock()
		close(f.done)
	}()
	return f, true
}
