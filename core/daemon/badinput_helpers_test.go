package daemon

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/pipeline"
)

// rawClient speaks SMTP byte for byte, for input no well-behaved client
// library would send (bare CR, NUL, 8-bit commands, malformed headers).
type rawClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, d *Daemon) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	if g := rc.reply(); !strings.HasPrefix(g, "220") {
		t.Fatalf("greeting %q", g)
	}
	return rc
}

// reply reads one reply, its lines joined with "\n"; "" when the
// connection closed.
func (rc *rawClient) reply() string {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var lines []string
	for {
		l, err := rc.r.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n")
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

// cmd sends one command line and returns the reply.
func (rc *rawClient) cmd(line string) string {
	rc.t.Helper()
	rc.write(line + "\r\n")
	return rc.reply()
}

func (rc *rawClient) write(s string) {
	rc.t.Helper()
	_ = rc.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// must sends a command that must get a reply starting with code.
func (rc *rawClient) must(line, code string) string {
	rc.t.Helper()
	r := rc.cmd(line)
	if !strings.HasPrefix(r, code) {
		rc.t.Fatalf("%q: got %q, want %s", line, r, code)
	}
	return r
}

// envelope sends EHLO, MAIL and RCPT, each of which must succeed.
func (rc *rawClient) envelope(from string, rcpts ...string) {
	rc.t.Helper()
	rc.must("EHLO client.test", "250")
	rc.must("MAIL FROM:<"+from+">", "250")
	for _, r := range rcpts {
		rc.must("RCPT TO:<"+r+">", "250")
	}
}

// data sends DATA, then msg as is (it must end in CRLF and carry no line
// starting with a dot) and the final dot; it returns the reply.
func (rc *rawClient) data(msg string) string {
	rc.t.Helper()
	rc.must("DATA", "354")
	rc.write(msg + ".\r\n")
	return rc.reply()
}

// recMilter is a go-milter milter that records what it is shown and adds
// "X-Milter: seen" at the end of each message.
type recMilter struct {
	gm.NoOpMilter
	rec  *milterRecord
	cur  milterSeen
	helo string
}

// milterSeen is what a milter was shown of one message.
type milterSeen struct {
	Helo, From string
	Rcpts      []string
	Headers    [][2]string
	Body       []byte
}

type milterRecord struct {
	mu   sync.Mutex
	msgs []milterSeen
}

func (r *milterRecord) all() []milterSeen {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]milterSeen(nil), r.msgs...)
}

func (m *recMilter) Helo(name string, _ *gm.Modifier) (gm.Response, error) {
	m.helo = name
	return gm.RespContinue, nil
}

func (m *recMilter) MailFrom(from string, _ *gm.Modifier) (gm.Response, error) {
	m.cur = milterSeen{Helo: m.helo, From: from}
	return gm.RespContinue, nil
}

func (m *recMilter) RcptTo(to string, _ *gm.Modifier) (gm.Response, error) {
	m.cur.Rcpts = append(m.cur.Rcpts, to)
	return gm.RespContinue, nil
}

func (m *recMilter) Header(name, value string, _ *gm.Modifier) (gm.Response, error) {
	m.cur.Headers = append(m.cur.Headers, [2]string{name, value})
	return gm.RespContinue, nil
}

func (m *recMilter) BodyChunk(b []byte, _ *gm.Modifier) (gm.Response, error) {
	m.cur.Body = append(m.cur.Body, b...)
	return gm.RespContinue, nil
}

func (m *recMilter) Body(mod *gm.Modifier) (gm.Response, error) {
	m.rec.mu.Lock()
	m.rec.msgs = append(m.rec.msgs, m.cur)
	m.rec.mu.Unlock()
	m.cur = milterSeen{Helo: m.helo}
	return gm.RespContinue, mod.AddHeader("X-Milter", "seen")
}

// startRecMilter serves a recMilter on a loopback port; it returns the
// stage address and the record.
func startRecMilter(t *testing.T) (string, *milterRecord) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &milterRecord{}
	srv := &gm.Server{
		NewMilter: func() gm.Milter { return &recMilter{rec: rec} },
		Actions:   gm.OptAddHeader | gm.OptChangeHeader,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp:" + ln.Addr().String(), rec
}

// echoStage is an actor stage whose data hook adds X-Echo-* headers with
// what the plugin was shown (quoted with %q), and X-Plugin: seen.
func echoStage(t *testing.T, name string) string {
	return actorStage(t, name, `{"data": {"*": {"edits": [
	  {"op": "echo", "name": "X-Echo-From", "value": "mail_from"},
	  {"op": "echo", "name": "X-Echo-Rcpts", "value": "rcpts"},
	  {"op": "echo", "name": "X-Echo-Helo", "value": "helo"},
	  {"op": "echo", "name": "X-Echo-Subject", "value": "header:Subject"},
	  {"op": "echo", "name": "X-Echo-Headers", "value": "header_names"},
	  {"op": "echo", "name": "X-Echo-Body", "value": "body"},
	  {"op": "add_header", "name": "X-Plugin", "value": "seen"}
	]}}}`, "")
}

// dataTrace returns the trace entries of the data hook.
func dataTrace(t *testing.T, d *Daemon, id string) []pipeline.TraceEntry {
	t.Helper()
	var out []pipeline.TraceEntry
	for _, e := range getTrace(t, d, id).Entries {
		if e.Hook == "data" {
			out = append(out, e)
		}
	}
	return out
}
