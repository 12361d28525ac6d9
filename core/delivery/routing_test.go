package delivery

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = error
	}{
		{"", "mx"},
		{"mx", "mx"},
		{"mx?tls=verify", "mx?tls=verify"},
		{"mx?tls=opportunistic", "mx"},
		{"smtp:relay.test:587", "smtp:relay.test:587"},
		{"smtp:[::1]:25?tls=required", "smtp:[::1]:25?tls=required"},
		{"smtp:relay.test:587?authfile=/etc/a", "smtp:relay.test:587?authfile=%2Fetc%2Fa&tls=required"},
		{"smtp:relay.test:587?tls=verify&ca=/ca.pem", "smtp:relay.test:587?ca=%2Fca.pem&tls=verify"},
		{"lmtp:tcp:127.0.0.1:24", "lmtp:tcp:127.0.0.1:24"},
		{"lmtp:inet:127.0.0.1:24", "lmtp:tcp:127.0.0.1:24"}, // as Postfix writes it
		// Without a port, LMTP's 24, as Postfix and Dovecot have it.
		{"lmtp:inet:mail.example", "lmtp:tcp:mail.example:24"},
		{"lmtp:tcp:[127.0.0.1]", "lmtp:tcp:127.0.0.1:24"},
		{"lmtp:tcp:[::1]", "lmtp:tcp:[::1]:24"},
		{"lmtp:inet:", ""},
		{"lmtp:unix:/run/dovecot/lmtp", "lmtp:unix:/run/dovecot/lmtp"},
		{"discard", "discard"},
		{"reject", ""},
		// As Postfix writes a next hop: brackets, and no port for
		// [delivery] port; one spelling keys one destination.
		{"smtp:relay.test", "smtp:relay.test"},
		{"smtp:[relay.test]", "smtp:relay.test"},
		{"smtp:[relay.test]:587", "smtp:relay.test:587"},
		{"smtp:[192.0.2.1]", "smtp:192.0.2.1"},
		{"smtp:[::1]", "smtp:[::1]"},
		{"smtp:[::1]?tls=verify", "smtp:[::1]?tls=verify"},
		{"smtp:::1", ""},
		{"smtp:[]", ""},
		{"smtp:[relay.test", ""},
		{"smtp:", ""},
		{"smtp:relay.test:0", ""},
		{"smtp:relay.test:25?tls=maybe", ""},
		// Postfix's smtp_tls_security_level names as aliases.
		{"smtp:relay.test?tls=may", "smtp:relay.test"},
		{"smtp:relay.test?tls=encrypt", "smtp:relay.test?tls=required"},
		{"mx?tls=secure", "mx?tls=verify"},
		{"smtp:relay.test?tls=encrypt&authfile=/a", "smtp:relay.test?authfile=%2Fa&tls=required"},
		{"smtp:relay.test?tls=may&authfile=/a", ""},
		{"smtp:relay.test?tls=none", ""},
		// Postfix's dane and dane-only, for a relay or smtp: route only
		// (MX delivery takes DANE from [delivery] dane).
		{"smtp:relay.test?tls=dane", "smtp:relay.test?tls=dane"},
		{"smtp:relay.test:587?tls=dane-only", "smtp:relay.test:587?tls=dane-only"},
		{"smtp:relay.test?tls=dane&authfile=/a", "smtp:relay.test?authfile=%2Fa&tls=dane"},
		{"smtp:relay.test?tls=dane&ca=/ca.pem", ""},
		{"mx?tls=dane", ""},
		{"mx?tls=dane-only", ""},
		{"smtp:relay.test:25?authfile=/a&tls=opportunistic", ""},
		{"smtp:relay.test:25?ca=/ca.pem", ""},
		{"smtp:relay.test:25?color=blue", ""},
		{"lmtp:udp:host:24", ""},
		{"lmtp:unix:", ""},
		{"lmtp:tcp:h:24?tls=required", ""},
		{"mx:host", ""},
		{"discard?x=1", ""},
		{"carrier-pigeon:", ""},
		// Hosts as everywhere else in the config: names and IP addresses.
		{"smtp:host name:25", ""},
		{"smtp:-bad-:25", ""},
		{"smtp:relay.test:smtp", ""},
		{"lmtp:tcp:999.1.1.1:24", ""},
	} {
		r, err := ParseRoute(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("ParseRoute(%q) = %v, want an error", tc.in, r)
		case tc.want != "" && err != nil:
			t.Errorf("ParseRoute(%q): %v", tc.in, err)
		case tc.want != "" && r.String() != tc.want:
			t.Errorf("ParseRoute(%q) = %q, want %q", tc.in, r.String(), tc.want)
		}
	}
}

// withRoutes is msg with each recipient's route set: pairs of address, route.
func withRoutes(from string, pairs ...string) *envelope.Message {
	m := &envelope.Message{From: from}
	for i := 0; i < len(pairs); i += 2 {
		m.Rcpts = append(m.Rcpts, envelope.Recipient{Addr: pairs[i], Route: pairs[i+1], Status: envelope.RcptPending})
	}
	return m
}

func TestRecipientsGoWhereTheirRoutesSay(t *testing.T) {
	h := newHarness(t)
	relay := h.sinkAt("127.0.0.1", sinkOptions{})
	smart := startSink(t, "127.0.0.1:0", sinkOptions{})
	h.opt.Config.Relay = relay.addr
	h.start()
	id := h.enqueue(withRoutes("s@origin.test",
		"a@dest.test", "",
		"b@dest.test", "smtp:"+smart.addr,
		"c@other.test", "smtp:"+smart.addr,
		"d@dest.test", "discard",
		"e@dest.test", "lmtp:carrier-pigeon",
		"f@dest.test", "mx",
	))
	if got := waitMsg(t, relay); !slices.Equal(got.rcpts, []string{"a@dest.test", "f@dest.test"}) {
		t.Errorf("default route got %q", got.rcpts)
	}
	if got := waitMsg(t, smart); !slices.Equal(got.rcpts, []string{"b@dest.test", "c@other.test"}) {
		t.Errorf("smarthost route got %q, want both domains in one transaction", got.rcpts)
	}
	rec := h.recorded(id)
	if r := rcpt(rec, "d@dest.test"); r.Status != envelope.RcptDelivered || r.LastReply != "250 2.0.0 Discarded by route" {
		t.Errorf("discarded recipient: %+v", r)
	}
	if r := rcpt(rec, "e@dest.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.3.5 ") {
		t.Errorf("recipient with a bad route: %+v, want pending with 4.3.5", r)
	}
	if n := len(relay.messages()) + len(smart.messages()); n != 2 {
		t.Errorf("%d transactions, want 2", n)
	}
}

// lmtpServer is a go-smtp LMTP server answering each recipient after DATA
// with reply(rcpt) (nil = 250); rcpt refuses at RCPT when set.
type lmtpServer struct {
	addr  string
	reply func(rcpt string) error
	rcpt  func(rcpt string) error

	mu   sync.Mutex
	got  []sinkMsg
	data chan struct{}
}

func startLMTP(t *testing.T, network, addr string, s *lmtpServer) *lmtpServer {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.data = make(chan struct{}, 10)
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &lmtpSession{s: s}, nil }))
	srv.LMTP = true
	srv.Domain = "lmtp.test"
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

type lmtpSession struct {
	s     *lmtpServer
	from  string
	rcpts []string
}

func (l *lmtpSession) Reset()        { l.from, l.rcpts = "", nil }
func (l *lmtpSession) Logout() error { return nil }
func (l *lmtpSession) Mail(from string, _ *smtp.MailOptions) error {
	l.from = from
	return nil
}

func (l *lmtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if l.s.rcpt != nil {
		if err := l.s.rcpt(to); err != nil {
			return err
		}
	}
	l.rcpts = append(l.rcpts, to)
	return nil
}

func (l *lmtpSession) Data(io.Reader) error { return errors.New("LMTPData is used") }

func (l *lmtpSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var ok []string
	for _, rc := range l.rcpts {
		err := l.s.reply(rc)
		status.SetStatus(rc, err)
		if err == nil {
			ok = append(ok, rc)
		}
	}
	l.s.mu.Lock()
	l.s.got = append(l.s.got, sinkMsg{from: l.from, rcpts: ok, body: string(body)})
	l.s.mu.Unlock()
	l.s.data <- struct{}{}
	return nil
}

func TestLMTPPerRecipientReplies(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "lmtp.sock")
			}
			s := startLMTP(t, network, addr, &lmtpServer{
				rcpt: func(rc string) error {
					if rc == "nobody@mail.test" {
						return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
					}
					return nil
				},
				reply: func(rc string) error {
					switch rc {
					case "full@mail.test":
						return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full"}
					case "broken@mail.test":
						return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 3, 0}, Message: "mailbox corrupt"}
					}
					return nil
				},
			})
			route := "lmtp:" + network + ":" + s.addr
			h := newHarness(t)
			h.start()
			id := h.enqueue(withRoutes("s@origin.test",
				"alice@mail.test", route, "full@mail.test", route, "nobody@mail.test", route,
				"broken@mail.test", route, "bob@mail.test", route))
			rec := h.recorded(id)
			for addr, want := range map[string]struct {
				status envelope.RcptStatus
				reply  string
			}{
				"alice@mail.test":  {envelope.RcptDelivered, "250 "},
				"bob@mail.test":    {envelope.RcptDelivered, "250 "},
				"full@mail.test":   {envelope.RcptPending, "452 4.2.2 <full@mail.test> mailbox full"},
				"nobody@mail.test": {envelope.RcptFailed, "550 5.1.1 no such user"},
				"broken@mail.test": {envelope.RcptFailed, "554 5.3.0 <broken@mail.test> mailbox corrupt"},
			} {
				if r := rcpt(rec, addr); r.Status != want.status || !strings.HasPrefix(r.LastReply, want.reply) {
					t.Errorf("%s: %s %q, want %s %q", addr, r.Status, r.LastReply, want.status, want.reply)
				}
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if len(s.got) != 1 || !slices.Equal(s.got[0].rcpts, []string{"alice@mail.test", "bob@mail.test"}) || s.got[0].body != testBody {
				t.Errorf("LMTP server got %+v", s.got)
			}
		})
	}
}

func TestProbe(t *testing.T) {
	s := startLMTP(t, "tcp", "127.0.0.1:0", &lmtpServer{rcpt: func(rc string) error {
		switch rc {
		case "nobody@mail.test":
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case "later@mail.test":
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
		}
		return nil
	}})
	route := "lmtp:tcp:" + s.addr
	ctx := t.Context()
	if err := Probe(ctx, route, "mta.test", "alice@mail.test", waitLimit); err != nil {
		t.Errorf("known user: %v", err)
	}
	var pe *ProbeError
	if err := Probe(ctx, route, "mta.test", "nobody@mail.test", waitLimit); !errors.As(err, &pe) || !pe.Permanent() || pe.Error() != "550 5.1.1 no such user" {
		t.Errorf("unknown user: %v, want the 550", err)
	}
	if err := Probe(ctx, route, "mta.test", "later@mail.test", waitLimit); !errors.As(err, &pe) || pe.Permanent() {
		t.Errorf("temporary refusal: %v", err)
	}
	if err := Probe(ctx, "lmtp:unix:"+filepath.Join(t.TempDir(), "none"), "mta.test", "a@mail.test", waitLimit); err == nil || errors.As(err, &pe) {
		t.Errorf("no server: %v, want a connection error", err)
	}
}

func TestRequiredTLSNeverFallsBackToPlaintext(t *testing.T) {
	h := newHarness(t)
	plain := startSink(t, "127.0.0.1:0", sinkOptions{})
	h.start()
	id := h.enqueue(withRoutes("s@origin.test", "r@dest.test", "smtp:"+plain.addr+"?tls=required"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.7.4 TLS is required, but was not offered by host 127.0.0.1[") {
		t.Fatalf("%+v, want deferred 4.7.4 for want of STARTTLS, as Postfix", r)
	}
	if n := len(plain.messages()); n != 0 {
		t.Fatalf("%d messages sent in plaintext", n)
	}
}

func TestVerifiedTLSAgainstRouteCA(t *testing.T) {
	ca := testlib.NewCA(t)
	good := startSink(t, "127.0.0.1:0", sinkOptions{tls: ca.ServerConfig("127.0.0.1")})
	other := testlib.NewCA(t)
	bad := startSink(t, "127.0.0.1:0", sinkOptions{tls: other.ServerConfig("127.0.0.1")})
	h := newHarness(t)
	h.start()
	caFile := ca.CertFile()
	id := h.enqueue(withRoutes("s@origin.test",
		"good@dest.test", "smtp:"+good.addr+"?tls=verify&ca="+caFile,
		"bad@dest.test", "smtp:"+bad.addr+"?tls=verify&ca="+caFile))
	if got := waitMsg(t, good); !got.tls {
		t.Error("verified route delivered without TLS")
	}
	rec := h.recorded(id)
	if r := rcpt(rec, "bad@dest.test"); r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "certificate") {
		t.Errorf("certificate from another CA: %+v, want deferred", r)
	}
	if n, c := len(bad.messages()), bad.connections(); n != 0 || c != 1 {
		t.Errorf("bad certificate: %d messages over %d connections, want none over 1 (no plaintext retry)", n, c)
	}
}

// authSink is a sink whose sessions require AUTH PLAIN as user:secret.
type authSink struct {
	*sink
	mu    sync.Mutex
	users []string
}

type authSession struct {
	*sinkSession
	as *authSink
}

func (s *authSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *authSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "user" || pass != "secret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.as.mu.Lock()
		s.as.users = append(s.as.users, user)
		s.as.mu.Unlock()
		return nil
	}), nil
}

// startAuthSink starts a go-smtp sink that offers STARTTLS and takes
// AUTH PLAIN as user:secret, and writes that line to an authfile.
func startAuthSink(t *testing.T) (as *authSink, authfile string) {
	ca := testlib.NewCA(t)
	as = &authSink{sink: &sink{rcptN: map[string]int{}, arrived: make(chan sinkMsg, 10), inData: make(chan struct{}, 10)}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	as.addr = ln.Addr().String()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &authSession{sinkSession: &sinkSession{sink: as.sink, conn: c}, as: as}, nil
	}))
	srv.Domain = "relay.test"
	srv.TLSConfig = ca.ServerConfig("127.0.0.1")
	srv.ReadTimeout, srv.WriteTimeout = waitLimit, waitLimit
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	auth := filepath.Join(t.TempDir(), "relay.auth")
	if err := os.WriteFile(auth, []byte("user:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return as, auth
}

// wantAuthOverTLS checks that the sink got one message, under TLS, from a
// client that authenticated as user.
func wantAuthOverTLS(t *testing.T, as *authSink) {
	t.Helper()
	if got := waitMsg(t, as.sink); !got.tls {
		t.Error("delivered without TLS")
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if !slices.Equal(as.users, []string{"user"}) {
		t.Errorf("authenticated as %q", as.users)
	}
}

func TestSmarthostAuthOverTLS(t *testing.T) {
	as, auth := startAuthSink(t)
	h := newHarness(t)
	h.start()
	h.enqueue(withRoutes("s@origin.test", "r@far.test", "smtp:"+as.addr+"?authfile="+auth))
	wantAuthOverTLS(t, as)
}

// [delivery] relay written as an smtp: route carries its TLS policy and
// AUTH to the default route's recipients, as Postfix's relayhost with
// smtp_sasl_password_maps: a provider's submission port wants AUTH.
func TestRelayRouteAuth(t *testing.T) {
	as, auth := startAuthSink(t)
	h := newHarness(t)
	h.opt.Config.Relay = "smtp:" + as.addr + "?authfile=" + auth
	rt, err := ParseRoute(h.opt.Config.Relay)
	if err != nil {
		t.Fatal(err)
	}
	h.opt.Routing.Relay = &rt
	h.start()
	h.enqueue(msg("s@origin.test", "r@far.test"))
	wantAuthOverTLS(t, as)
}

func TestMessagesPerConnection(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = s.addr
	h.opt.Config.Workers = 1
	h.opt.Routing.MessagesPerConnection = 2
	for range 5 {
		h.enqueue(msg("s@origin.test", "r@dest.test"))
	}
	h.start()
	for range 5 {
		waitMsg(t, s)
	}
	if n := s.connections(); n != 3 {
		t.Fatalf("%d connections for 5 messages at 2 per connection, want 3", n)
	}
}

// closingRelay makes h relay, with one worker, to a sink that answers
// every RCPT with 421 until recovered is called.
func closingRelay(h *harness) (s *sink, recovered func()) {
	var mu sync.Mutex
	refuse := true
	s = h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(string, int) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "closing"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.Workers = 1
	return s, func() {
		mu.Lock()
		refuse = false
		mu.Unlock()
	}
}

func TestBackoffAfter421(t *testing.T) {
	h := newHarness(t)
	s, recovered := closingRelay(h)
	h.opt.Routing.Backoff = 2 * time.Minute
	var logs lockedBuffer
	h.logTo(&logs)
	h.start()

	first := h.enqueue(msg("s@origin.test", "a@dest.test"))
	if r := rcpt(h.recorded(first), "a@dest.test"); !strings.HasPrefix(r.LastReply, "421 ") {
		t.Fatalf("first attempt: %+v", r)
	}
	// The line that starts the backoff names the message, as every
	// delivery line does, so grep ID tells its whole story.
	if want := `msg="delivery: destination in backoff" id=` + first; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs.String())
	}
	conns := s.connections()
	second := h.enqueue(msg("s@origin.test", "b@dest.test"))
	if r := rcpt(h.recorded(second), "b@dest.test"); r.Status != envelope.RcptPending || !strings.HasPrefix(r.LastReply, "451 4.4.5 ") {
		t.Fatalf("during backoff: %+v, want 4.4.5 without a connection", r)
	}
	if n := s.connections(); n != conns {
		t.Fatalf("%d connections, want %d: a destination in backoff is not contacted", n, conns)
	}

	recovered()
	// Past the backoff, and past both messages' retry time.
	h.retryAfter(5 * time.Minute)
	for range 2 {
		waitMsg(t, s)
	}
}

// A retry by the operator (queue retry, flush) tries a destination in
// backoff at once.
func TestForgetBackoffs(t *testing.T) {
	h := newHarness(t)
	s, recovered := closingRelay(h)
	h.opt.Routing.Backoff = time.Hour
	h.start()

	id := h.enqueue(msg("s@origin.test", "a@dest.test"))
	if r := rcpt(h.recorded(id), "a@dest.test"); !strings.HasPrefix(r.LastReply, "421 ") {
		t.Fatalf("first attempt: %+v", r)
	}
	recovered()
	// Due again, but its destination is in backoff for an hour.
	if err := h.q.Retry(id); err != nil {
		t.Fatal(err)
	}
	h.agent.Kick()
	if r := rcpt(h.recorded(id), "a@dest.test"); r.Attempts != 1 || s.connections() != 1 {
		t.Fatalf("retry during backoff: %+v after %d connections, want it skipped", r, s.connections())
	}
	h.agent.ForgetBackoffs()
	if err := h.q.Retry(id); err != nil {
		t.Fatal(err)
	}
	waitMsg(t, s)
}

// A server that answers and defers one mailbox (full, greylisted) is
// working: however often it does, its destination never goes into backoff
// and its other recipients are delivered. Only the site failing counts.
func TestRecipientDeferralsDoNotBackOffTheSite(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{rcpt: func(to string, _ int) error {
		if strings.HasPrefix(to, "full@") {
			return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "Mailbox full"}
		}
		return nil
	}})
	h.opt.Config.Relay = s.addr
	h.opt.Config.Workers = 1
	h.opt.Routing.BackoffAfter = 2
	h.opt.Routing.Backoff = time.Hour
	h.start()
	for i := range 4 {
		id := h.enqueue(msg("s@origin.test", "full@dest.test"))
		if r := rcpt(h.recorded(id), "full@dest.test"); !strings.HasPrefix(r.LastReply, "450 ") {
			t.Fatalf("message %d: %+v, want the mailbox's 450", i, r)
		}
	}
	h.enqueue(msg("s@origin.test", "ok@dest.test"))
	waitMsg(t, s)
}

// Recipients not tried because their destination is in backoff keep their
// attempt count and their last real reply, which is what the sender is
// eventually told; the backoff's own text is used only when there is none.
func TestBackoffSkipKeepsTheRealReply(t *testing.T) {
	h := newHarness(t)
	closingRelay(h) // and it never recovers
	h.opt.Routing.Backoff = time.Hour
	h.start()
	first := h.enqueue(msg("s@origin.test", "a@dest.test"))
	if r := rcpt(h.recorded(first), "a@dest.test"); !strings.HasPrefix(r.LastReply, "421 ") || r.Attempts != 1 {
		t.Fatalf("first attempt: %+v", r)
	}
	// Due again inside the backoff: skipped, not tried.
	if err := h.q.Retry(first); err != nil {
		t.Fatal(err)
	}
	h.agent.Kick()
	m := h.recorded(first)
	if r := rcpt(m, "a@dest.test"); !strings.HasPrefix(r.LastReply, "421 ") || r.Attempts != 1 || m.Attempts != 1 {
		t.Fatalf("after a skipped attempt: message attempts %d, %+v; want one attempt and the 421 kept", m.Attempts, r)
	}
	// A message whose only attempt was skipped says why it waits.
	second := h.enqueue(msg("s@origin.test", "b@dest.test"))
	if r := rcpt(h.recorded(second), "b@dest.test"); !strings.HasPrefix(r.LastReply, "451 4.4.5 ") || r.Attempts != 0 {
		t.Fatalf("never tried: %+v, want the backoff's 451 and no attempt", r)
	}
}

func TestBackoffAfterRepeatedTemporaryFailures(t *testing.T) {
	b := newBackoffs()
	opt := newRouting(Routing{BackoffAfter: 3, Backoff: time.Minute, BackoffMax: 3 * time.Minute}).opt
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	temp := map[string]outcome{"a@x": temporary("451 4.4.1 no connection")}
	for i := 1; i <= 2; i++ {
		if until := b.record("x", now, temp, true, false, opt); !until.IsZero() {
			t.Fatalf("backoff after %d failures, want after 3", i)
		}
	}
	if until := b.record("x", now, temp, true, false, opt); !until.Equal(now.Add(time.Minute)) {
		t.Fatalf("third failure: backoff until %v", until)
	}
	if _, ok := b.blocked("x", now.Add(59*time.Second)); !ok {
		t.Fatal("not blocked during the backoff")
	}
	now = now.Add(time.Minute)
	if _, ok := b.blocked("x", now); ok {
		t.Fatal("still blocked after the backoff")
	}
	// One more failure right after a backoff doubles it, up to the maximum.
	if until := b.record("x", now, temp, true, false, opt); !until.Equal(now.Add(2 * time.Minute)) {
		t.Fatalf("failure after backoff: until %v, want twice as long", until)
	}
	now = now.Add(2 * time.Minute)
	if until := b.record("x", now, temp, true, false, opt); !until.Equal(now.Add(3 * time.Minute)) {
		t.Fatalf("until %v, want capped at BackoffMax", until)
	}
	b.record("x", now, map[string]outcome{"a@x": delivered("250 ok")}, true, false, opt)
	if _, ok := b.blocked("x", now); ok {
		t.Fatal("a delivery must clear the backoff")
	}
}

// logRecorder keeps the log for assertions and shows it in the test log.
type logRecorder struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func recordLog(h *harness) *logRecorder {
	l := &logRecorder{t: h.t}
	h.opt.Logger = slog.New(slog.NewTextHandler(l, nil))
	return l
}

// An LMTP server on a unix socket is a server like any other in reports:
// its refusal is quoted as an "smtp" Diagnostic-Code with a Remote-MTA
// (this host, where the socket is, as Postfix names it), not as a reason
// of Sluice's own; the log names it this host[socket].
func TestLMTPUnixRefusalReportedAsServerReply(t *testing.T) {
	s := startLMTP(t, "unix", filepath.Join(t.TempDir(), "lmtp.sock"), &lmtpServer{
		rcpt: func(rc string) error {
			if rc == "nobody@mail.test" {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		},
		reply: func(string) error { return nil },
	})
	h := newHarness(t)
	logs := recordLog(h)
	relay := h.sinkAt("127.0.0.1", sinkOptions{})
	h.opt.Config.Relay = relay.addr // where the report goes
	h.start()
	route := "lmtp:unix:" + s.addr
	id := h.enqueue(withRoutes("s@origin.test", "alice@mail.test", route, "nobody@mail.test", route))
	rec := h.recorded(id)
	if r := rcpt(rec, "nobody@mail.test"); r.Status != envelope.RcptFailed || r.RemoteMTA != "mta.sluice.test" {
		t.Errorf("refused recipient recorded as %+v, want failed with RemoteMTA mta.sluice.test", r)
	}
	if r := rcpt(rec, "alice@mail.test"); r.Status != envelope.RcptDelivered {
		t.Errorf("alice: %+v, want delivered", r)
	}
	d := waitReport(t, relay)
	r := d.rcpt(t, "nobody@mail.test")
	for k, want := range map[string]string{
		"Action":          "failed",
		"Status":          "5.1.1",
		"Diagnostic-Code": "smtp; 550 5.1.1 no such user",
		"Remote-MTA":      "dns; mta.sluice.test",
	} {
		if got := r.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if l := logs.String(); !strings.Contains(l, "via=mta.sluice.test["+s.addr+"]") {
		t.Errorf("the attempt's log line does not name mta.sluice.test[%s]:\n%s", s.addr, l)
	}
}
