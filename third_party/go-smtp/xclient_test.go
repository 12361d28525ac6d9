package smtp_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

// xclientSession is a session that takes XCLIENT attributes when
// attrs is not empty, and records what it got.
type xclientSession struct {
	be *xclientBackend
}

type xclientBackend struct {
	attrs    []string
	mu       sync.Mutex
	got      [][]smtp.XClientAttr
	sessions int // NewSession calls
	logouts  int
	refuse   error           // XClient's error
	greeting *smtp.SMTPError // XClient's greeting
}

func (be *xclientBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	be.sessions++
	return &xclientSession{be: be}, nil
}

func (be *xclientBackend) setRefuse(err error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	be.refuse = err
}

func (s *xclientSession) XClientAttributes() []string { return s.be.attrs }

func (s *xclientSession) XClient(attrs []smtp.XClientAttr) (*smtp.SMTPError, error) {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	if s.be.refuse != nil {
		return nil, s.be.refuse
	}
	s.be.got = append(s.be.got, attrs)
	return s.be.greeting, nil
}

func (s *xclientSession) Reset() {}
func (s *xclientSession) Logout() error {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	s.be.logouts++
	return nil
}
func (s *xclientSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *xclientSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *xclientSession) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// ehloCaps greets and returns the capability lines, without their "250-".
func (rc *rawClient) ehloCaps() []string {
	rc.t.Helper()
	rc.send("EHLO localhost\r\n")
	var caps []string
	for {
		l := rc.line()
		if len(l) < 4 || !strings.HasPrefix(l, "250") {
			rc.t.Fatalf("EHLO reply %q", l)
		}
		caps = append(caps, l[4:])
		if l[3] == ' ' {
			return caps[1:]
		}
	}
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}

// A session that takes no attributes advertises no XCLIENT, and XCLIENT
// gets Postfix's refusal; so does a session without the interface.
func TestServerXClientUnauthorized(t *testing.T) {
	for name, fn := range map[string]serverConfigureFunc{
		"no attributes": func(s *smtp.Server) { s.Backend = &xclientBackend{} },
		"no interface":  func(*smtp.Server) {},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, rc := dialRaw(t, fn)
			for _, c := range rc.ehloCaps() {
				if strings.HasPrefix(c, "XCLIENT") {
					t.Fatalf("EHLO advertises %q", c)
				}
			}
			rc.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
		})
	}
}

// An authorized client: the keyword with the attributes, the refusals
// Postfix gives, xtext decoding, and after success a new greeting, the
// session logged out and EHLO required again. Each XCLIENT is shown to
// JunkCommand.
func TestServerXClient(t *testing.T) {
	be := &xclientBackend{attrs: []string{"NAME", "ADDR", "HELO"}}
	var junk []string // JunkCommand's, under be.mu
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		s.Backend = be
		s.JunkCommand = func(_ *smtp.Conn, cmd string) *smtp.SMTPError {
			be.mu.Lock()
			defer be.mu.Unlock()
			junk = append(junk, cmd)
			return nil
		}
	})
	rc.cmd("XCLIENT ADDR=192.0.2.1", "503 5.5.1 Please introduce yourself first.")
	if caps := rc.ehloCaps(); !hasCap(caps, "XCLIENT NAME ADDR HELO") {
		t.Fatalf("EHLO advertises %q, want XCLIENT NAME ADDR HELO", caps)
	}
	for _, tc := range []struct{ line, want string }{
		{"XCLIENT", "501 5.5.4 Syntax: XCLIENT attribute=value..."},
		{"XCLIENT ADDR", "501 5.5.4 Error: attribute=value expected"},
		{"XCLIENT ADDR=", "501 5.5.4 Error: attribute=value expected"},
		{"XCLIENT =x", "501 5.5.4 Error: attribute=value expected"},
		{"XCLIENT PORT=25", "501 5.5.4 Bad XCLIENT attribute name: PORT"},
		{"XCLIENT NAME=" + strings.Repeat("a", 256), "501 5.5.4 Error: attribute value too long"},
		{"XCLIENT HELO=a+0Ab", "501 5.5.4 Bad HELO syntax: a+0Ab"},
		{"XCLIENT HELO=a+0db", "501 5.5.4 Bad HELO syntax: a+0db"},
		{"XCLIENT HELO=a+7F", "501 5.5.4 Bad HELO syntax: a+7F"},
	} {
		rc.cmd(tc.line, tc.want)
	}
	rc.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	rc.cmd("XCLIENT ADDR=192.0.2.1", "503 5.5.1 Error: MAIL transaction in progress")
	rc.cmd("RSET", "250 2.0.0 Session reset")
	be.setRefuse(&smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "Bad ADDR syntax: x"})
	rc.cmd("XCLIENT ADDR=x", "501 5.5.4 Bad ADDR syntax: x")
	be.setRefuse(nil)
	// Hex digits of either case, and a value that is not xtext as sent,
	// as Postfix decodes them.
	rc.cmd("xclient addr=192.0.2.1 helo=a+2bb+20c name=first+last+2", "220 localhost ESMTP Service Ready")
	rc.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	be.mu.Lock()
	defer be.mu.Unlock()
	want := []smtp.XClientAttr{{Name: "ADDR", Value: "192.0.2.1"}, {Name: "HELO", Value: "a+b c"}, {Name: "NAME", Value: "first+last+2"}}
	if len(be.got) != 1 || len(be.got[0]) != len(want) {
		t.Fatalf("XClient got %q, want one call with %q", be.got, want)
	}
	for i := range want {
		if be.got[0][i] != want[i] {
			t.Fatalf("XClient got %q, want %q", be.got[0], want)
		}
	}
	if be.sessions != 2 || be.logouts != 1 {
		t.Errorf("%d sessions, %d logouts; want 2 and 1", be.sessions, be.logouts)
	}
	// XCLIENT is a junk command, as Postfix counts it: 13 here, and the
	// RSET.
	if n := strings.Count(strings.Join(junk, " "), "XCLIENT"); n != 13 || len(junk) != 14 {
		t.Errorf("JunkCommand saw %q, want 13 XCLIENT and an RSET", junk)
	}
}

// A greeting XClient returns replaces the 220, and the connection closes.
func TestServerXClientGreetingRefused(t *testing.T) {
	be := &xclientBackend{attrs: []string{"ADDR"}, greeting: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Go away"}}
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.Backend = be })
	rc.ehlo()
	rc.cmd("XCLIENT ADDR=192.0.2.1", "554 5.7.1 Go away")
	rc.expectClosed()
}

// xclientEarlyBackend is an xclientBackend that takes XCLIENT before
// EHLO too (XClientBackend), with sessions of their own.
type xclientEarlyBackend struct {
	xclientBackend
	early int   // NewXClientSession calls, under mu
	fail  error // NewXClientSession's error
}

func (be *xclientEarlyBackend) NewXClientSession(*smtp.Conn) (smtp.XClientSession, error) {
	be.mu.Lock()
	defer be.mu.Unlock()
	if be.fail != nil {
		return nil, be.fail
	}
	be.early++
	return &xclientSession{be: &be.xclientBackend}, nil
}

// With XClientBackend, XCLIENT before EHLO is taken as Postfix takes it:
// at the start and right after another XCLIENT's 220, as Dovecot's
// submission relay sends the attributes that did not fit its first line.
// Each is answered by a session of its own, logged out after; every
// other command still waits for EHLO, and a client the session gives no
// attributes gets Postfix's 550.
func TestServerXClientBeforeEHLO(t *testing.T) {
	be := &xclientEarlyBackend{xclientBackend: xclientBackend{attrs: []string{"NAME", "ADDR", "HELO", "LOGIN"}}}
	_, _, rc := dialRaw(t, func(s *smtp.Server) { s.Backend = be })
	rc.cmd("XCLIENT", "501 5.5.4 Syntax: XCLIENT attribute=value...")
	rc.cmd("XCLIENT PORT=25", "501 5.5.4 Bad XCLIENT attribute name: PORT")
	rc.cmd("XCLIENT HELO=client.example LOGIN=alice", "220 localhost ESMTP Service Ready")
	rc.cmd("XCLIENT ADDR=192.0.2.1", "220 localhost ESMTP Service Ready")
	rc.cmd("MAIL FROM:<a@example.org>", "503 5.5.1 Please introduce yourself first.")
	rc.ehlo()
	rc.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	be.mu.Lock()
	if len(be.got) != 2 || len(be.got[0]) != 2 || be.got[1][0] != (smtp.XClientAttr{Name: "ADDR", Value: "192.0.2.1"}) {
		t.Errorf("XClient got %q", be.got)
	}
	// An XCLIENT session for each XCLIENT after the first check, the
	// refused ones too (they count their errors), each logged out;
	// EHLO's session still open.
	if be.early != 4 || be.sessions != 1 || be.logouts != 4 {
		t.Errorf("%d XCLIENT sessions, %d sessions, %d logouts; want 4, 1 and 4", be.early, be.sessions, be.logouts)
	}
	be.attrs = nil
	be.mu.Unlock()
	rc.cmd("RSET", "250 2.0.0 Session reset")
	rc.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")

	_, _, rc = dialRaw(t, func(s *smtp.Server) { s.Backend = be })
	rc.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	be.mu.Lock()
	be.fail = errors.New("no session")
	be.mu.Unlock()
	rc.cmd("XCLIENT ADDR=192.0.2.1", "451 4.0.0 no session")
}

// countingXClientSession is an XCLIENT session before EHLO that counts
// its protocol errors (ErrorCounter), as a session after EHLO may.
type countingXClientSession struct {
	xclientSession
	seen *[]string
}

func (s *countingXClientSession) ProtocolError(code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
	s.be.mu.Lock()
	defer s.be.mu.Unlock()
	*s.seen = append(*s.seen, fmt.Sprintf("%d %s", code, msg))
	if len(*s.seen) > 2 {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many errors"}
	}
	return nil
}

type countingXClientBackend struct {
	xclientBackend
	seen []string
}

func (be *countingXClientBackend) NewXClientSession(*smtp.Conn) (smtp.XClientSession, error) {
	return &countingXClientSession{xclientSession{be: &be.xclientBackend}, &be.seen}, nil
}

// An XCLIENT refused before EHLO is counted by the XCLIENT session when
// it is an ErrorCounter, as a session after EHLO counts its errors (and
// Sluice logs them): its 550 to a client it gives no attributes, the
// 501s of go-smtp's checks; ConnErrorCounter is not asked. Past the
// counter's limit its reply replaces the error's and the connection
// closes.
func TestServerXClientBeforeEHLOCounted(t *testing.T) {
	be := &countingXClientBackend{}
	var conn []string
	_, _, rc := dialRaw(t, func(s *smtp.Server) {
		s.Backend = be
		s.ConnErrorCounter = func(_ *smtp.Conn, code int, _ smtp.EnhancedCode, msg string) *smtp.SMTPError {
			conn = append(conn, fmt.Sprintf("%d %s", code, msg))
			return nil
		}
	})
	rc.cmd("XCLIENT ADDR=192.0.2.1", "550 5.7.0 Error: insufficient authorization")
	be.mu.Lock()
	be.attrs = []string{"ADDR"}
	be.mu.Unlock()
	rc.cmd("XCLIENT", "501 5.5.4 Syntax: XCLIENT attribute=value...")
	rc.cmd("XCLIENT NAME=a.example", "421 4.7.0 Too many errors")
	rc.expectClosed()
	be.mu.Lock()
	defer be.mu.Unlock()
	want := "550 Error: insufficient authorization|501 Syntax: XCLIENT attribute=value...|501 Bad XCLIENT attribute name: NAME"
	if got := strings.Join(be.seen, "|"); got != want || len(conn) != 0 {
		t.Errorf("the XCLIENT sessions counted %q, ConnErrorCounter %q; want %q and none", got, conn, want)
	}
}
