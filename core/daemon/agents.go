package daemon

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// agents runs the delivery agent and, after a reload that changed
// [delivery], its successor, while the retired agent finishes the
// attempts it had in flight (delivery.Agent.Successor and Retire).
type agents struct {
	ctx context.Context // every agent's Run; cancelled at Stop

	mu   sync.Mutex
	cur  *delivery.Agent
	errs []error

	wg sync.WaitGroup // one per Run
}

// current is the agent that takes new work: admin actions go to it.
func (s *agents) current() *delivery.Agent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// start runs a as the current agent, retiring the one before, if any.
func (s *agents) start(a *delivery.Agent) {
	s.mu.Lock()
	old := s.cur
	s.cur = a
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := a.Run(s.ctx); err != nil && !errors.Is(err, context.Canceled) {
			s.mu.Lock()
			s.errs = append(s.errs, err)
			s.mu.Unlock()
		}
	}()
	if old != nil {
		old.Retire()
	}
}

// wait waits up to timeout for every Run to return (after ctx was
// cancelled), and reports whether they did and what they returned.
func (s *agents) wait(timeout time.Duration) (bool, error) {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return true, errors.Join(s.errs...)
}

// agentOptions are the delivery agent's options for c's [delivery], with
// res answering its DNS questions; what a reload does not change
// (hostname) comes from running, the settings the daemon started with.
// queue_minfree is the daemon's, read at each check (a reload changes it
// for the running agent too).
func (d *Daemon) agentOptions(c, running *config.Config, res *dnsresolve.Resolver) (delivery.Options, error) {
	o, err := deliveryOptions(c)
	if err != nil {
		return o, err
	}
	o.Hostname = running.Hostname
	o.Resolver, o.Logger = res, d.log
	o.Bounce.Filter = d.bounceFilter
	o.Deliver = d.deliverHook
	o.Outcome = d.outcomeHook()
	o.Metrics = d.metrics
	o.FreeSpace, o.MinFree = d.queue.FreeSpace, d.minFree.Load
	o.SoftBounce = c.SoftBounce
	o.Suspensions = d.suspended
	if c.Delivery.TLSRPT {
		o.TLSReports = d.tlsrpt
	}
	return o, nil
}
