package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// baseConfig is the configuration every test starts from; options change
// fields of the parsed Config.
const baseConfig = `
hostname       = "mx.test"
local_domains  = ["example.org"]
relay_networks = ["192.0.2.0/24"]

[limits]
max_message_size = 4096
max_recipients   = 3
max_line_length  = 1000
soft_errors      = -1 # no error tarpit but where a test is about it

[[listener]]
name   = "mx"
listen = "127.0.0.1:0"
`

// testClock is the fixed time of every Received header in the tests.
var testClock = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// recQueue is a real queue.Store that can be told to fail.
type recQueue struct {
	*queue.Store
	mu   sync.Mutex
	fail error
}

func (q *recQueue) EnqueueTraced(m *envelope.Message, body, trace []byte) error {
	q.mu.Lock()
	fail := q.fail
	q.mu.Unlock()
	if fail != nil {
		return fail
	}
	return q.Store.EnqueueTraced(m, body, trace)
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // a value after a write, for waitLog
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case b.wrote <- struct{}{}:
	default:
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type harness struct {
	t    testing.TB
	cfg  *config.Config
	q    *recQueue
	srv  *Server
	logs *syncBuffer
}

// start runs a server on loopback with a real queue in a temp dir. The
// options may edit the Options (and its Config) before New.
func start(t testing.TB, opts ...func(*Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "sluice.toml"), []byte(baseConfig))
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(dir, "queue"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	h := &harness{t: t, cfg: cfg, q: &recQueue{Store: store}, logs: &syncBuffer{wrote: make(chan struct{}, 1)}}
	opt := Options{
		Config: cfg,
		Queue:  h.q,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:  func() time.Time { return testClock },
	}
	for _, o := range opts {
		o(&opt)
	}
	h.srv, err = New(opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", h.logs.String())
		}
	})
	return h
}

// withLimits edits the limits of the test config.
func withLimits(f func(*config.Limits)) func(*Options) {
	return func(o *Options) { f(&o.Config.Limits) }
}

func (h *harness) addr(name string) string {
	h.t.Helper()
	a, ok := h.srv.Addrs()[name]
	if !ok {
		h.t.Fatalf("no listener %q", name)
	}
	return a.String()
}

// messages returns what is in the queue, in arrival order.
func (h *harness) messages() []*envelope.Message {
	h.t.Helper()
	ms, err := h.q.List(0)
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

// only returns the one queued message and its body.
func (h *harness) only() (*envelope.Message, []byte) {
	h.t.Helper()
	ms := h.messages()
	if len(ms) != 1 {
		h.t.Fatalf("queue holds %d messages, want 1", len(ms))
	}
	body, err := h.q.Body(ms[0].ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return ms[0], body
}

// dialog is a scripted SMTP client over a raw connection, in the style of
// chasquid's test/t-12-minor_dialogs: send lines, expect exact replies.
type dialog struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

// dial connects to the "mx" listener and reads the greeting.
func (h *harness) dial() *dialog {
	h.t.Helper()
	d := dialConn(h.t, h.addr("mx"))
	d.expect("220 mx.test ESMTP")
	return d
}

func dialConn(t testing.TB, addr string) *dialog {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return newDialog(t, c)
}

func newDialog(t testing.TB, c net.Conn) *dialog {
	return &dialog{t: t, c: c, r: bufio.NewReader(c)}
}

// send writes the lines, each ended by CRLF, in one write: several lines
// at once are a pipelined group (RFC 2920).
func (d *dialog) send(lines ...string) {
	d.t.Helper()
	d.raw(strings.Join(lines, "\r\n") + "\r\n")
}

// raw writes s exactly.
func (d *dialog) raw(s string) {
	d.t.Helper()
	_ = d.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(d.c, s); err != nil {
		d.t.Fatalf("write: %v", err)
	}
}

// line reads one reply line without its CRLF.
func (d *dialog) line() string {
	d.t.Helper()
	_ = d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := d.r.ReadString('\n')
	if err != nil {
		d.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		d.t.Fatalf("reply line %q not ended by CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// expect reads one line per argument; each must be equal, or start with
// what precedes a final "*".
func (d *dialog) expect(want ...string) {
	d.t.Helper()
	for _, w := range want {
		got := d.line()
		if p, ok := strings.CutSuffix(w, "*"); ok {
			if !strings.HasPrefix(got, p) {
				d.t.Fatalf("got reply %q, want prefix %q", got, p)
			}
			continue
		}
		if got != w {
			d.t.Fatalf("got reply %q, want %q", got, w)
		}
	}
}

// cmd sends one line and expects one reply.
func (d *dialog) cmd(line, want string) {
	d.t.Helper()
	d.send(line)
	d.expect(want)
}

// ehlo greets and skips the capability list.
func (d *dialog) ehlo() {
	d.t.Helper()
	d.send("EHLO client.test")
	for {
		if l := d.line(); strings.HasPrefix(l, "250 ") {
			return
		} else if !strings.HasPrefix(l, "250-") {
			d.t.Fatalf("EHLO reply %q", l)
		}
	}
}

// envelope opens a transaction from a@example.org to the recipients.
func (d *dialog) envelope(rcpts ...string) {
	d.t.Helper()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for _, r := range rcpts {
		d.cmd("RCPT TO:<"+r+">", "250 2.0.0 I'll make sure <"+r+"> gets this")
	}
}

// queued reads a "250 2.0.0 Ok: queued as ID" reply and returns the id.
func (d *dialog) queued() string {
	d.t.Helper()
	l := d.line()
	id, ok := strings.CutPrefix(l, "250 2.0.0 Ok: queued as ")
	if !ok || id == "" {
		d.t.Fatalf("got reply %q, want 250 queued", l)
	}
	return id
}

// expectClosed asserts the server closed the connection with nothing more
// to say.
func (d *dialog) expectClosed() {
	d.t.Helper()
	_ = d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := d.r.ReadString('\n')
	if err == nil || l != "" {
		d.t.Fatalf("got %q (err %v), want the connection closed", l, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		d.t.Fatalf("connection still open")
	}
}

// expectSilence asserts the server says nothing, and keeps the connection
// open, for d: a wait the server's timeouts must outlast, not a sleep.
func (d *dialog) expectSilence(wait time.Duration) {
	d.t.Helper()
	_ = d.c.SetReadDeadline(time.Now().Add(wait))
	l, err := d.r.ReadString('\n')
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || l != "" {
		d.t.Fatalf("got %q (err %v), want no reply for %v", l, err, wait)
	}
}
