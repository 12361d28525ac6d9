package smtpd

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/core/config"
)

// fakeClock is a settable clock for rate buckets and AUTH lockouts.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: testClock} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func withClock(c *fakeClock) func(*Options) {
	return func(o *Options) { o.Clock = c.Now }
}

// sleepRecorder replaces the AUTH failure delay: it records and returns.
type sleepRecorder struct {
	mu     sync.Mutex
	sleeps []time.Duration
}

func (r *sleepRecorder) sleep(_ context.Context, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sleeps = append(r.sleeps, d)
}

func (r *sleepRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sleeps)
}

// withUsers gives the server a user database of cheap bcrypt hashes and
// a no-op failure delay.
func withUsers(t testing.TB, pw map[string]string) func(*Options) {
	t.Helper()
	u := auth.NewUsers()
	for name, p := range pw {
		h, err := auth.HashBcrypt(p, 4)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Set(name, h); err != nil {
			t.Fatal(err)
		}
	}
	return func(o *Options) {
		o.Users = u
		if o.Sleep == nil {
			o.Sleep = func(context.Context, time.Duration) {}
		}
	}
}

// withSubmission adds a "sub" listener of kind submission (STARTTLS, then
// AUTH) with a test certificate, and returns the client's TLS config.
func withSubmission(t testing.TB, kind config.ListenerKind) (func(*Options), *tls.Config) {
	t.Helper()
	certFile, keyFile, clientTLS := testCert(t)
	return func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "sub", Listen: "127.0.0.1:0", Kind: kind, TLSCert: certFile, TLSKey: keyFile,
		})
	}, clientTLS
}

// withSTARTTLS gives the "mx" listener a certificate.
func withSTARTTLS(t testing.TB) (func(*Options), *tls.Config) {
	t.Helper()
	certFile, keyFile, clientTLS := testCert(t)
	return func(o *Options) {
		o.Config.Listeners[0].TLSCert, o.Config.Listeners[0].TLSKey = certFile, keyFile
	}, clientTLS
}

// dialTLS connects to a listener, does EHLO and STARTTLS, and returns the
// dialog inside TLS, before its second EHLO.
func (h *harness) dialTLS(name string, clientTLS *tls.Config) *dialog {
	h.t.Helper()
	d := dialConn(h.t, h.addr(name))
	d.expect("220 mx.test ESMTP")
	d.ehlo()
	d.cmd("STARTTLS", "220 2.0.0 Ready to start TLS")
	tc := tls.Client(d.c, clientTLS)
	if err := tc.Handshake(); err != nil {
		h.t.Fatal(err)
	}
	return newDialog(h.t, tc)
}

// ehloCaps greets and returns the capability lines without "250-"/"250 ".
func (d *dialog) ehloCaps() []string {
	d.t.Helper()
	d.send("EHLO client.test")
	var caps []string
	for {
		l := d.line()
		if len(l) < 4 || l[:3] != "250" {
			d.t.Fatalf("EHLO reply %q", l)
		}
		caps = append(caps, l[4:])
		if l[3] == ' ' {
			return caps[1:] // the first line is the greeting
		}
	}
}

func plainResp(authz, user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(authz + "\x00" + user + "\x00" + pass))
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// authPlain authenticates with AUTH PLAIN and an initial response.
func (d *dialog) authPlain(user, pass, want string) {
	d.t.Helper()
	d.cmd("AUTH PLAIN "+plainResp("", user, pass), want)
}

// dialTLSDirect connects to an implicit-TLS listener and reads the greeting.
func dialTLSDirect(t testing.TB, addr string, clientTLS *tls.Config) *dialog {
	t.Helper()
	tc, err := tls.Dial("tcp", addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tc.Close() })
	d := newDialog(t, tc)
	d.expect("220 mx.test ESMTP")
	return d
}
