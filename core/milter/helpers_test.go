package milter

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// record is what a test milter saw, shared by its sessions.
type record struct {
	mu     sync.Mutex
	events []string          // "connect client.example 192.0.2.7", "helo ...", "header Subject: x", "body ...", "eob", "abort"
	macros map[string]string // every macro seen, last value wins
}

func (r *record) add(ev string, m *gm.Modifier) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.macros == nil {
		r.macros = map[string]string{}
	}
	if m != nil {
		for k, v := range m.Macros {
			r.macros[k] = v
		}
	}
}

func (r *record) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *record) Macro(k string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.macros[k]
}

// scripted is a go-milter Milter that records every call and answers
// continue unless a hook is set.
type scripted struct {
	rec     *record
	connect func() gm.Response
	helo    func() gm.Response
	header  func(name, value string) gm.Response
	mail    func(from string) gm.Response
	rcpt    func(to string) gm.Response
	body    func(chunk []byte) (gm.Response, error)
	eob     func(m *gm.Modifier) (gm.Response, error)
}

func (s *scripted) Connect(host, family string, port uint16, addr net.IP, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("connect "+host+" "+family+" "+addr.String(), m)
	if s.connect != nil {
		return s.connect(), nil
	}
	return gm.RespContinue, nil
}

func (s *scripted) Helo(name string, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("helo "+name, m)
	if s.helo != nil {
		return s.helo(), nil
	}
	return gm.RespContinue, nil
}

func (s *scripted) MailFrom(from string, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("mail "+from, m)
	if s.mail != nil {
		return s.mail(from), nil
	}
	return gm.RespContinue, nil
}

func (s *scripted) RcptTo(to string, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("rcpt "+to, m)
	if s.rcpt != nil {
		return s.rcpt(to), nil
	}
	return gm.RespContinue, nil
}

func (s *scripted) Header(name, value string, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("header "+name+": "+value, m)
	if s.header != nil {
		return s.header(name, value), nil
	}
	return gm.RespContinue, nil
}

func (s *scripted) Headers(_ textproto.MIMEHeader, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("eoh", m)
	return gm.RespContinue, nil
}

func (s *scripted) BodyChunk(chunk []byte, m *gm.Modifier) (gm.Response, error) {
	s.rec.add("body "+string(chunk), m)
	if s.body != nil {
		return s.body(chunk)
	}
	return gm.RespContinue, nil
}

func (s *scripted) Body(m *gm.Modifier) (gm.Response, error) {
	s.rec.add("eob", m)
	if s.eob != nil {
		return s.eob(m)
	}
	return gm.RespContinue, nil
}

func (s *scripted) Abort(m *gm.Modifier) error {
	s.rec.add("abort", m)
	return nil
}

// serve runs go-milter's own server on 127.0.0.1:0 with a fresh copy of
// s per milter session and returns its address as a stage wants it.
func serve(t *testing.T, s scripted, proto gm.OptProtocol) (string, *record) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &record{}
	s.rec = rec
	return serveOn(t, ln, s, proto), rec
}

func serveOn(t *testing.T, ln net.Listener, s scripted, proto gm.OptProtocol) string {
	srv := &gm.Server{
		NewMilter: func() gm.Milter { c := s; return &c },
		Actions:   gm.OptAddHeader | gm.OptChangeBody | gm.OptAddRcpt | gm.OptRemoveRcpt | gm.OptChangeHeader | gm.OptQuarantine,
		Protocol:  proto,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp:" + ln.Addr().String()
}

func newStage(t *testing.T, addr string) *Stage {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	st, err := New(Options{Name: "m", Addr: addr, Hostname: "mx.sluice.test", Timeout: 2 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testSession() *sdk.Session {
	return &sdk.Session{ID: "s1", ClientIP: "192.0.2.7", ClientPort: 40123, ClientName: "client.example",
		Helo: "client.example", Listener: "mx", LocalIP: "127.0.0.1", LocalPort: 25,
		TLS: true, TLSVersion: "TLSv1.3", AuthMech: "PLAIN", AuthUser: "alice"}
}

func testMessage() *sdk.Message {
	body := []byte("line 1\r\nline 2\r\n")
	return &sdk.Message{Headers: []sdk.Header{
		{Name: "From", Value: "alice@example.org"},
		{Name: "Subject", Value: "hello\r\n world"},
		{Name: "X-Twice", Value: "one"},
		{Name: "X-Twice", Value: "two"},
	}, Body: body, BodySize: int64(len(body))}
}

// open opens a connection on a fresh session.
func open(t *testing.T, st *Stage) pipeline.Conn {
	t.Helper()
	c, err := st.Open(context.Background(), testSession())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// step calls one hook as the runner does: only when wanted, with a
// timeout. A hook not wanted answers continue.
func step(c pipeline.Conn, h sdk.Hook, t *sdk.Txn, rcpt *sdk.Recipient) (sdk.Verdict, error) {
	if !c.Wants(h) {
		return sdk.Continue(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return c.Hook(ctx, h, t, rcpt)
}

// transact runs a whole transaction (connect, helo, mail, each rcpt,
// data) and returns the data verdict; it fails the test when an SMTP
// step is refused or errs.
func transact(t *testing.T, c pipeline.Conn, rcpts ...string) (sdk.Verdict, error) {
	t.Helper()
	return transactMsg(t, c, testMessage(), rcpts...)
}

// transactMsg is transact with message m.
func transactMsg(t *testing.T, c pipeline.Conn, m *sdk.Message, rcpts ...string) (sdk.Verdict, error) {
	t.Helper()
	txn := &sdk.Txn{Session: *testSession(), Envelope: sdk.Envelope{MailFrom: "alice@example.org",
		MailParams: map[string]string{"BODY": "8BITMIME"}, QueueID: "Q123"}}
	for _, h := range []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookMail} {
		if v, err := step(c, h, txn, nil); err != nil || v.Action != sdk.ActionContinue {
			t.Fatalf("%s: %+v %v", h, v, err)
		}
	}
	if len(rcpts) == 0 {
		rcpts = []string{"bob@example.net"}
	}
	for _, r := range rcpts {
		rc := sdk.Recipient{Addr: r, Params: map[string]string{"NOTIFY": "NEVER"}}
		if v, err := step(c, sdk.HookRcpt, txn, &rc); err != nil || v.Action != sdk.ActionContinue {
			t.Fatalf("rcpt %s: %+v %v", r, v, err)
		}
		txn.Envelope.Rcpts = append(txn.Envelope.Rcpts, rc)
	}
	if !c.Wants(sdk.HookData) {
		return sdk.Continue(), nil
	}
	if !c.NeedsBody() {
		m.Body = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	v, err := c.Data(ctx, sdk.HookData, txn, m)
	if err == nil {
		c.Reset(ctx)
	}
	return v, err
}

// eobWith is a milter that runs mod at end of message and answers resp.
func eobWith(mod func(m *gm.Modifier) error, resp gm.Response) scripted {
	return scripted{eob: func(m *gm.Modifier) (gm.Response, error) {
		if mod != nil {
			if err := mod(m); err != nil {
				return nil, err
			}
		}
		return resp, nil
	}}
}

// rawPeer is a minimal protocol-6 milter for what go-milter's server
// cannot send (SMFIR_ADDRCPT_PAR, SMFIR_PROGRESS): it answers continue to
// every step and, at end of message, writes the packets of eob.
func rawPeer(t *testing.T, eob ...[]byte) string {
	t.Helper()
	return acceptEach(t, func(c net.Conn) { rawSession(c, eob) })
}

// acceptEach listens on loopback until the test ends and runs handle in a
// goroutine of its own for each connection, closing it when handle
// returns; it returns the address as a stage wants it.
func acceptEach(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	return "tcp:" + testlib.AcceptEach(t, "127.0.0.1:0", func(c net.Conn) {
		go func() {
			defer c.Close()
			handle(c)
		}()
	})
}

func rawSession(c net.Conn, eob [][]byte) {
	for {
		p, err := readPacket(c)
		if err != nil {
			return
		}
		var out [][]byte
		switch p[0] {
		case 'O':
			out = [][]byte{append([]byte{'O'}, 0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0, 0, 0)}
		case 'D', 'A':
		case 'Q':
			return
		case 'E':
			out = eob
		default:
			out = [][]byte{{'c'}}
		}
		for _, o := range out {
			if _, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(o))), o...)); err != nil {
				return
			}
		}
	}
}

// pkt builds a packet body: code then NUL-terminated strings.
func pkt(code byte, strs ...string) []byte {
	b := []byte{code}
	for _, s := range strs {
		b = append(append(b, s...), 0)
	}
	return b
}

func hasEvent(evs []string, prefix string) bool {
	for _, e := range evs {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

var errBoom = errors.New("boom")

// readPacket reads one milter packet (a 4-byte length, then the command
// byte and its data), as the fake milters of these tests do.
func readPacket(r io.Reader) ([]byte, error) {
	var n uint32
	if err := binary.Read(r, binary.BigEndian, &n); err != nil {
		return nil, err
	}
	p := make([]byte, n)
	_, err := io.ReadFull(r, p)
	return p, err
}
