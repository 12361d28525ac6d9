package smtpd

import (
	"context"
	"net/netip"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/reply"
)

// gatedAuthPolicy is an auth hook that reports each attempt on arrived and
// then holds it until gate is closed, when it refuses it as a bad password.
type gatedAuthPolicy struct {
	AllowAll
	arrived chan string
	gate    chan struct{}
}

func (p gatedAuthPolicy) Auth(_ context.Context, _ *SessionInfo, _, user string, _ []byte) AuthVerdict {
	p.arrived <- user
	<-p.gate
	return AuthVerdict{Decision: AuthRefuse, Reply: &reply.Reply{Code: 535, Enhanced: [3]int{5, 7, 8}, Text: "Authentication credentials invalid"}}
}

// waitingFor waits until n attempts from ip wait in authFailures.begin,
// yielding the processor between looks (the waits are on a sync.Cond, which
// nothing outside the package can observe).
func (a *authFailures) waitingFor(t *testing.T, ip netip.Addr, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		f := a.m[ip]
		got := 0
		if f != nil {
			got = f.waiting
		}
		a.mu.Unlock()
		if got == n {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("%d AUTH attempts were not held back", n)
}

// Guesses sent at once on parallel connections are limited as guesses
// sent one after another: with auth_failures_per_ip = 3, five connections
// sending AUTH together get three credential checks (535) and two 454s.
// The lockout used to be checked only when AUTH started, so every attempt
// that began before the first failure was recorded was checked: a client
// with max_connections_per_ip connections had that many guesses per
// auth_lockout instead of auth_failures_per_ip.
func TestAuthParallelGuessesLimited(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	p := gatedAuthPolicy{arrived: make(chan string, 10), gate: make(chan struct{})}
	h := start(t, sub, func(o *Options) { o.Policy = p }, withLimits(func(l *config.Limits) {
		l.AuthFailuresPerIP = 3
		l.AuthFailureDelay.Duration = 0
	}))
	// Registered after start, so run before its Shutdown: a failing test
	// must not leave sessions held in the hook.
	var once sync.Once
	release := func() { once.Do(func() { close(p.gate) }) }
	t.Cleanup(release)
	const n = 5
	ds := make([]*dialog, n)
	for i := range ds {
		ds[i] = h.dialTLS("sub", clientTLS)
		ds[i].ehlo()
	}
	for _, d := range ds {
		d.send("AUTH PLAIN " + plainResp("", "bob", "guess"))
	}
	for range 3 {
		<-p.arrived
	}
	h.srv.authFails.waitingFor(t, netip.MustParseAddr("127.0.0.1"), n-3)
	release()

	var got []string
	for _, d := range ds {
		got = append(got, d.line())
	}
	sort.Strings(got)
	want := []string{
		"454 4.7.0 Too many failed authentication attempts, try again later",
		"454 4.7.0 Too many failed authentication attempts, try again later",
		"535 5.7.8 Authentication credentials invalid",
		"535 5.7.8 Authentication credentials invalid",
		"535 5.7.8 Authentication credentials invalid",
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("replies %q, want %q", got, want)
		}
	}
	if extra := len(p.arrived); extra != 0 {
		t.Errorf("the auth hook checked %d attempts past the limit", extra)
	}
}

// An attempt in progress holds a place but is no failure: when it
// succeeds, one held back goes on to be checked.
func TestAuthParallelSuccessFreesPlace(t *testing.T) {
	a := newAuthFailures(config.Limits{AuthFailuresPerIP: 1, AuthLockout: config.Duration{Duration: time.Minute}})
	ip := netip.MustParseAddr("192.0.2.1")
	now := func() time.Time { return testClock }
	if !a.begin(ip, now) {
		t.Fatal("first attempt refused")
	}
	second := make(chan bool)
	go func() { second <- a.begin(ip, now) }()
	a.waitingFor(t, ip, 1)
	a.end(ip, testClock, false) // the first succeeded
	if !<-second {
		t.Fatal("the attempt held back was refused after a success")
	}
	a.end(ip, testClock, true) // the second failed: the limit (1) is reached
	if a.begin(ip, now) {
		t.Fatal("an attempt was allowed past auth_failures_per_ip")
	}
	if !a.begin(ip, func() time.Time { return testClock.Add(time.Minute) }) {
		t.Fatal("still locked out once auth_lockout passed")
	}
}

// panickyAuthPolicy panics on user "boom" and lets the user database
// decide the others.
type panickyAuthPolicy struct{ AllowAll }

func (panickyAuthPolicy) Auth(_ context.Context, _ *SessionInfo, _, user string, _ []byte) AuthVerdict {
	if user == "boom" {
		panic("auth hook bug")
	}
	return AuthVerdict{}
}

// An auth hook that panics ends that session (go-smtp's 421), and gives
// back the place its attempt held: the address's next attempt is checked,
// not left waiting for an attempt that will never end.
func TestAuthPanicFreesPlace(t *testing.T) {
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users), func(o *Options) { o.Policy = panickyAuthPolicy{} },
		withLimits(func(l *config.Limits) { l.AuthFailuresPerIP = 1 }))
	d := h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("boom", "x", "421 4.0.0 Internal server error")
	d.expectClosed()
	d = h.dialTLS("sub", clientTLS)
	d.ehlo()
	d.authPlain("bob", "battery staple", "235 2.7.0 Authentication succeeded")
}
