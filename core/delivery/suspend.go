package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/metrics"
	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/atomicfile"
)

// suspendedDelivery is the reply kept for a recipient not tried because
// an administrator suspended delivery to its domain (sluice queue
// suspend); RFC 3463 X.0.0: other status, as for other administrators'
// doings (withdrawn).
var suspendedDelivery = reply.Reply{Code: 451, Enhanced: [3]int{4, 0, 0}, Text: "Delivery to this domain suspended by an administrator"}

// Suspension is one recipient domain whose delivery an administrator
// suspended, as KumoMTA's kcli suspend and Postfix's defer_transports
// hold a destination's mail without trying it.
type Suspension struct {
	Domain string    `json:"domain"` // an envelope.Site
	Since  time.Time `json:"since"`
	// Until is when the suspension ends by itself; zero: when resumed.
	Until  time.Time `json:"until,omitzero"`
	Reason string    `json:"reason,omitempty"`
}

// SuspensionOptions configure Suspensions.
type SuspensionOptions struct {
	// Path is the file the suspensions are kept in across restarts
	// ("": none kept).
	Path    string
	Clock   func() time.Time // default time.Now
	Logger  *slog.Logger     // default slog.Default()
	Metrics *metrics.Metrics // sluice_delivery_suspended_domains (nil: none)
	// Ended runs with each domain whose suspension ended (resumed or
	// run out), outside any lock: its mail is to be made due at once.
	Ended func(domain string)
}

// Suspensions are the recipient domains whose delivery is suspended: an
// attempt tries none of their recipients, which stay pending with no
// attempt counted and no backoff changed (Agent.attempt). They outlive
// the agents a reload replaces, and, kept in a file, the daemon.
type Suspensions struct {
	opt  SuspensionOptions
	wake chan struct{}

	mu sync.Mutex
	m  map[string]Suspension
}

// suspensionsFile is the file's content, replaced whole, atomically
// (internal/atomicfile), so that a crash leaves the last one saved.
type suspensionsFile struct {
	Version   int          `json:"version"`
	Suspended []Suspension `json:"suspended"`
}

const suspensionsFileVersion = 1

// NewSuspensions returns the suspensions kept in opt.Path, if any. A
// file that does not read is set aside (.bad) and logged as an error:
// delivery to the domains it named is no longer suspended.
func NewSuspensions(opt SuspensionOptions) *Suspensions {
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Suspensions{opt: opt, wake: make(chan struct{}, 1), m: map[string]Suspension{}}
	s.load()
	s.opt.Metrics.SuspendedDomains(len(s.m))
	return s
}

func (s *Suspensions) load() {
	if s.opt.Path == "" {
		return
	}
	b, err := os.ReadFile(s.opt.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var f suspensionsFile
	if err == nil {
		err = json.Unmarshal(b, &f)
	}
	if err == nil && f.Version != suspensionsFileVersion {
		err = errors.New("unknown version")
	}
	if err != nil {
		bad := s.opt.Path + ".bad"
		if rerr := os.Rename(s.opt.Path, bad); rerr != nil {
			s.opt.Logger.Error("delivery: the saved suspensions do not read and cannot be set aside; no domain is suspended", "file", s.opt.Path, "err", err, "set_aside", rerr)
			return
		}
		s.opt.Logger.Error("delivery: the saved suspensions do not read; set aside, no domain is suspended", "file", s.opt.Path, "moved_to", bad, "err", err)
		return
	}
	for _, x := range f.Suspended {
		d := envelope.SiteDomain(x.Domain)
		if !envelope.ValidDomain(d) {
			// Not one queue suspend could have written (the file
			// edited by hand): queue resume could not name it, and
			// it would stay listed for good.
			s.opt.Logger.Error("delivery: a saved suspension names no domain; dropped", "file", s.opt.Path, "domain", x.Domain)
			continue
		}
		x.Domain = d
		s.m[d] = x
	}
	if len(s.m) > 0 {
		s.opt.Logger.Info("delivery: suspensions kept from before the restart", "domains", s.domains())
	}
}

// domains lists the suspended domains, sorted. s.mu is held, or s not
// yet shared.
func (s *Suspensions) domains() []string {
	out := make([]string, 0, len(s.m))
	for d := range s.m {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// save writes the file. s.mu is held.
func (s *Suspensions) save() error {
	if s.opt.Path == "" {
		return nil
	}
	f := suspensionsFile{Version: suspensionsFileVersion, Suspended: []Suspension{}}
	for _, d := range s.domains() {
		f.Suspended = append(f.Suspended, s.m[d])
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(s.opt.Path, append(b, '\n'), 0o600)
}

// Suspend suspends delivery to domain (an envelope.Site) for d, or until
// resumed when d is 0, replacing a suspension of it there was. Nothing is
// changed when the file cannot be written.
func (s *Suspensions) Suspend(domain string, d time.Duration, reason string) (Suspension, error) {
	now := s.opt.Clock()
	x := Suspension{Domain: domain, Since: now.UTC(), Reason: reason}
	if d > 0 {
		x.Until = now.Add(d).UTC()
	}
	s.mu.Lock()
	old, had := s.m[domain]
	if had {
		x.Since = old.Since // suspended since the first time
	}
	s.m[domain] = x
	if err := s.save(); err != nil {
		if had {
			s.m[domain] = old
		} else {
			delete(s.m, domain)
		}
		s.mu.Unlock()
		return Suspension{}, err
	}
	n := len(s.m)
	s.mu.Unlock()
	s.opt.Metrics.SuspendedDomains(n)
	until := "resumed"
	if !x.Until.IsZero() {
		until = x.Until.Format(time.RFC3339)
	}
	s.opt.Logger.Info("delivery suspended", "domain", domain, "until", until, "reason", reason)
	select {
	case s.wake <- struct{}{}: // Run's next end may be this one's
	default:
	}
	return x, nil
}

// Resume ends the suspension of domain, reporting whether there was one;
// its mail is then due at once (Ended).
func (s *Suspensions) Resume(domain string) (bool, error) {
	return s.end(domain, "resumed", func(Suspension) bool { return true })
}

// end removes domain's suspension when there is one and ok says so, and
// logs it as ended by how.
func (s *Suspensions) end(domain, how string, ok func(Suspension) bool) (bool, error) {
	s.mu.Lock()
	x, had := s.m[domain]
	if !had || !ok(x) {
		s.mu.Unlock()
		return false, nil
	}
	delete(s.m, domain)
	if err := s.save(); err != nil {
		s.m[domain] = x
		s.mu.Unlock()
		return false, err
	}
	n := len(s.m)
	s.mu.Unlock()
	s.opt.Metrics.SuspendedDomains(n)
	s.opt.Logger.Info("delivery suspension ended", "domain", domain, "how", how, "reason", x.Reason)
	if s.opt.Ended != nil {
		s.opt.Ended(domain)
	}
	return true, nil
}

// List returns the suspensions in force, by domain.
func (s *Suspensions) List() []Suspension {
	now := s.opt.Clock()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Suspension{}
	for _, d := range s.domains() {
		if x := s.m[d]; x.Until.IsZero() || now.Before(x.Until) {
			out = append(out, x)
		}
	}
	return out
}

// Suspended reports whether delivery to site (an envelope.Site) is
// suspended now. A nil Suspensions suspends nothing.
func (s *Suspensions) Suspended(site string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	x, ok := s.m[site]
	s.mu.Unlock()
	return ok && (x.Until.IsZero() || s.opt.Clock().Before(x.Until))
}

// Expire ends the suspensions whose end has come, as Run does when it
// comes, and returns the earliest end still ahead (zero: none).
func (s *Suspensions) Expire() time.Time {
	now := s.opt.Clock()
	s.mu.Lock()
	var due []string
	var next time.Time
	for d, x := range s.m {
		switch {
		case x.Until.IsZero():
		case !now.Before(x.Until):
			due = append(due, d)
		case next.IsZero() || x.Until.Before(next):
			next = x.Until
		}
	}
	s.mu.Unlock()
	slices.Sort(due)
	for _, d := range due {
		_, err := s.end(d, "expired", func(x Suspension) bool { return !x.Until.IsZero() && !now.Before(x.Until) })
		if err != nil {
			// It stays in force (delivery still sees it run out): the
			// next Run tries again.
			s.opt.Logger.Error("delivery: ending an expired suspension", "domain", d, "err", err)
			if next.IsZero() || now.Add(time.Minute).Before(next) {
				next = now.Add(time.Minute)
			}
		}
	}
	return next
}

// Run ends each suspension when its time comes, until ctx is done.
func (s *Suspensions) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		timer.Stop()
		if next := s.Expire(); !next.IsZero() {
			timer.Reset(max(next.Sub(s.opt.Clock()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// splitSuspended returns, of pending, the recipients to try and those
// whose domain's delivery is suspended, each of these with its outcome:
// pending, not tried (skipped, as for a destination in backoff), so no
// attempt is counted and no backoff changed.
func (a *Agent) splitSuspended(pending []*envelope.Recipient) ([]*envelope.Recipient, map[string]outcome) {
	if a.suspended == nil {
		return pending, nil
	}
	var try []*envelope.Recipient
	var held map[string]outcome
	for _, r := range pending {
		site := envelope.Site(r.Addr)
		if !strings.Contains(r.Addr, "@") || !a.suspended.Suspended(site) {
			try = append(try, r)
			continue
		}
		if held == nil {
			held = map[string]outcome{}
		}
		held[r.Addr] = outcome{status: envelope.RcptPending, skipped: true, reply: suspendedDelivery.With(site).Error()}
	}
	return try, held
}
