package smtpd

import (
	"crypto/tls"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/metrics"
)

// Each AUTH attempt is counted in sluice_smtp_auth_attempts_total by
// listener, mechanism and result: a wrong password is a failure, an auth
// hook's 454 a tempfail, a good password a success, and an attempt from a
// locked-out address locked. A mechanism Sluice does not offer (here the
// credentials sent in its place) is "other", and no user name becomes a
// label. The count is taken before the reply is written.
func TestAuthMetrics(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	sub, clientTLS := withSubmission(t, config.KindSubmission)
	h := start(t, sub, withUsers(t, users), withClock(newFakeClock()), func(o *Options) {
		o.Metrics = m
		o.Policy = authPolicy{seen: make(chan string, 10)}
	}, withLimits(func(l *config.Limits) {
		l.AuthFailuresPerIP = 2
		l.AuthLockout.Duration = time.Hour
	}))

	c := authClient(t, h, clientTLS)
	wantAuth(t, c, sasl.NewPlainClient("", "bob", "guess"), 535)
	wantAuth(t, c, sasl.NewPlainClient("", "ldapdown", "pw"), 454)
	wantAuth(t, c, sasl.NewLoginClient("bob", "battery staple"), 235)

	c = authClient(t, h, clientTLS)
	wantAuth(t, c, sasl.NewPlainClient("", "nobody", "guess"), 535) // the second failure: locked out
	wantAuth(t, c, sasl.NewPlainClient("", "bob", "battery staple"), 454)
	wantAuth(t, c, namedMech("dXNlcjpwYXNz"), 454)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	want := []string{
		`sluice_smtp_auth_attempts_total{listener="sub",mechanism="LOGIN",result="success"} 1`,
		`sluice_smtp_auth_attempts_total{listener="sub",mechanism="PLAIN",result="failure"} 2`,
		`sluice_smtp_auth_attempts_total{listener="sub",mechanism="PLAIN",result="locked"} 1`,
		`sluice_smtp_auth_attempts_total{listener="sub",mechanism="PLAIN",result="tempfail"} 1`,
		`sluice_smtp_auth_attempts_total{listener="sub",mechanism="other",result="locked"} 1`,
	}
	var got []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "sluice_smtp_auth_attempts_total{") {
			got = append(got, l)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, secret := range []string{"bob", "nobody", "dXNlcjpwYXNz"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics holds %q:\n%s", secret, body)
		}
	}
}

// authClient is a go-smtp client on the submission listener, greeted and
// under STARTTLS.
func authClient(t *testing.T, h *harness, clientTLS *tls.Config) *smtp.Client {
	t.Helper()
	c, err := smtp.DialStartTLS(h.addr("sub"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// wantAuth runs AUTH with a and checks the reply's code.
func wantAuth(t *testing.T, c *smtp.Client, a sasl.Client, code int) {
	t.Helper()
	err := c.Auth(a)
	var se *smtp.SMTPError
	switch {
	case code == 235 && err != nil:
		t.Fatalf("AUTH: %v, want success", err)
	case code != 235 && (!errors.As(err, &se) || se.Code != code):
		t.Fatalf("AUTH: %v, want %d", err, code)
	}
}

// namedMech is a SASL client whose mechanism is its name, with no
// initial response: what a client sending "AUTH <base64>" looks like.
type namedMech string

func (n namedMech) Start() (string, []byte, error) { return string(n), nil, nil }
func (n namedMech) Next([]byte) ([]byte, error)    { return nil, errors.New("no challenge expected") }
