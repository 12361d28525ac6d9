package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// mailbox is an LMTP server on a Unix socket holding the users listed:
// what a Dovecot LMTP service does, as far as Sluice can tell.
type mailbox struct {
	sock  string
	users []string
	mu    sync.Mutex
	got   map[string][]byte // by recipient
	seen  chan struct{}
}

func startMailbox(t *testing.T, users ...string) *mailbox {
	t.Helper()
	mb := &mailbox{sock: filepath.Join(t.TempDir(), "lmtp"), users: users, got: map[string][]byte{}, seen: make(chan struct{}, 16)}
	ln, err := net.Listen("unix", mb.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailboxSession{mb: mb}, nil }))
	srv.LMTP = true
	srv.Domain = "mailbox.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return mb
}

func (mb *mailbox) wait(t *testing.T, rcpts ...string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		mb.mu.Lock()
		n := 0
		for _, r := range rcpts {
			if mb.got[r] != nil {
				n++
			}
		}
		mb.mu.Unlock()
		if n == len(rcpts) {
			return
		}
		select {
		case <-mb.seen:
		case <-deadline:
			t.Fatalf("mailbox: %d of %q arrived", n, rcpts)
		}
	}
}

type mailboxSession struct {
	mb    *mailbox
	rcpts []string
}

func (s *mailboxSession) Reset()                               { s.rcpts = nil }
func (s *mailboxSession) Logout() error                        { return nil }
func (s *mailboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailboxSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	base := to
	if i, at := strings.IndexByte(to, '+'), strings.LastIndexByte(to, '@'); i > 0 && i < at {
		base = to[:i] + to[at:]
	}
	if !slices.Contains(s.mb.users, base) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.rcpts = append(s.rcpts, to)
	return nil
}
func (s *mailboxSession) Data(r io.Reader) error { return errors.New("LMTP only") }
func (s *mailboxSession) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	for _, rc := range s.rcpts {
		s.mb.got[rc] = b
		status.SetStatus(rc, nil)
	}
	s.mb.mu.Unlock()
	s.mb.seen <- struct{}{}
	return nil
}

// TestRoutePluginEndToEnd: the route stage refuses unknown local users at
// RCPT (never accepted, so never bounced), rewrites an alias, keeps
// +detail, and delivery carries local mail over LMTP while remote mail
// goes to the relay.
func TestRoutePluginEndToEnd(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	mb := startMailbox(t, "alice@sluice.test", "bob@sluice.test")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "route"
plugin = "route"
[stage.config]
detail_separator = "+"
[stage.config.aliases]
"postmaster@sluice.test" = ["bob@sluice.test"]
[[stage.config.rules]]
match = "sluice.test"
transport = "lmtp:unix:%s"
recipients = ["alice", "bob"]
`, t.TempDir(), relayTo(sink), mb.sock)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()

	if _, err := send(t, d, "unknown", "nobody@sluice.test"); err == nil || !strings.HasPrefix(err.Error(), "550 5.1.1 ") {
		t.Fatalf("unknown local user: %v, want 550 5.1.1 at RCPT", err)
	}
	if _, err := send(t, d, "local", "alice+news@sluice.test", "postmaster@sluice.test", "carol@remote.test"); err != nil {
		t.Fatal(err)
	}
	mb.wait(t, "alice+news@sluice.test", "bob@sluice.test")
	got := sink.WaitN(t, 1, 10*time.Second)
	if !slices.Equal(got[0].Rcpts, []string{"carol@remote.test"}) {
		t.Errorf("relay got %q, want only the remote recipient", got[0].Rcpts)
	}
	mb.mu.Lock()
	defer mb.mu.Unlock()
	if _, ok := mb.got["postmaster@sluice.test"]; ok {
		t.Error("the alias itself reached the mailbox server")
	}
	if !strings.Contains(string(mb.got["bob@sluice.test"]), "Subject: local") {
		t.Errorf("bob's copy:\n%s", mb.got["bob@sluice.test"])
	}
}
