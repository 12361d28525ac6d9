package milter

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// A milter replacing the body with 2 MiB and making a thousand header
// changes. go-milter's server sends a replacement body in one
// SMFIR_REPLBODY packet, however large (libmilter chunks it): Postfix
// reads packets of up to INT_MAX/2 bytes (milter8.c, XXX_MAX_DATA), so
// the whole body arrives here as one edit.
func TestLargeReplacementBodyAndManyHeaderChanges(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n"), 2<<20/64)
	addr, _ := serve(t, eobWith(func(m *gm.Modifier) error {
		for i := range 500 {
			if err := m.AddHeader("X-Many", fmt.Sprint(i)); err != nil {
				return err
			}
			if err := m.ChangeHeader(i+1, "X-Twice", fmt.Sprint("changed ", i)); err != nil {
				return err
			}
		}
		return m.ReplaceBody(body)
	}, gm.RespContinue), 0)
	p := onePipeline(newStage(t, addr), config.OnErrorTempfail)
	r := runSession(t, p, "From: a@example.org\r\nX-Twice: one\r\nX-Twice: two\r\n\r\nsmall\r\n", "bob@example.net")
	if r.step != "data" || !r.out.OK() {
		t.Fatalf("%s: %+v %+v", r.step, r.out, r.entries[len(r.entries)-1])
	}
	if !bytes.Equal(r.msg.Body(), body) {
		t.Fatalf("body of %d bytes, want the milter's %d", len(r.msg.Body()), len(body))
	}
	// Changes 1 and 2 changed the two fields; 3 to 500, past the last
	// occurrence, each added one (Postfix, cleanup_milter.c).
	var many, twice int
	for _, h := range r.msg.Headers() {
		switch h.Name {
		case "X-Many":
			many++
		case "X-Twice":
			twice++
		}
	}
	if many != 500 || twice != 500 || r.msg.Get("X-Twice") != "changed 0" {
		t.Fatalf("%d X-Many and %d X-Twice (first %q), want 500 each", many, twice, r.msg.Get("X-Twice"))
	}
	if last := r.entries[len(r.entries)-1]; last.Hook != sdk.HookData || last.Action != "continue" || len(last.Edits) != 1001 {
		t.Fatalf("trace: %s %s with %d edits, want data continue with 1001", last.Hook, last.Action, len(last.Edits))
	}
}

// refusalAt is a raw milter that answers the end of message with p.
func refusalAt(t *testing.T, p []byte) *pipeline.Pipeline {
	t.Helper()
	addr := scriptPeer(t, func(cmd byte, _ []byte) [][]byte {
		if cmd == 'E' {
			return [][]byte{framed(p)}
		}
		return nil
	})
	return onePipeline(newStage(t, addr), config.OnErrorTempfail)
}

// libmilter makes a milter double each '%' of its reply text
// (smfi_setreply; python3-milter raises "'%' must be doubled"): the
// client reads one, as from Postfix.
func TestReplyTextPercentAsPostfix(t *testing.T) {
	r := runSession(t, refusalAt(t, pkt('y', "550 5.7.1 100%% sure, 50%% maybe")), plainMessage, "bob@example.net")
	if got := r.out.Reply.String(); got != "550 5.7.1 100% sure, 50% maybe" {
		t.Fatalf("reply %q", got)
	}
}

// A milter's reply text cannot add a reply line of its own (CR, LF) nor
// put control or 8-bit bytes on the client's screen (RFC 5321 §4.2,
// textstring): it is one line of printable ASCII.
func TestReplyTextCannotInject(t *testing.T) {
	r := runSession(t, refusalAt(t, pkt('y', "550 5.7.1 bad\r\n250 2.0.0 OK\rMAIL FROM:<x>\n\x1b[31mred\x7f\xff\tend")), plainMessage, "bob@example.net")
	if r.step != "data" || r.out.Action != sdk.ActionReject {
		t.Fatalf("%s: %+v", r.step, r.out)
	}
	if got := r.out.Reply.String(); got != "550 5.7.1 bad 250 2.0.0 OK?MAIL FROM:<x> ?[31mred??\tend" {
		t.Fatalf("reply %q", got)
	}
}

// A multi-line reply (smfi_setmlreply) becomes one line, which stays
// within RFC 5321 §4.5.3.1.5's 512 octets.
func TestLongMultilineReplyFitsOneLine(t *testing.T) {
	line := strings.Repeat("x", 300)
	r := runSession(t, refusalAt(t, pkt('y', "550-5.7.1 "+line+"\r\n550-5.7.1 "+line+"\r\n550 5.7.1 "+line)), plainMessage, "bob@example.net")
	got := r.out.Reply.String()
	if !strings.HasPrefix(got, "550 5.7.1 "+line+" x") || len(got)+len("\r\n") > 512 {
		t.Fatalf("reply of %d octets: %.40q...", len(got), got)
	}
}

// A milter answering garbage breaks its connection: the step gets the
// stage's on_error (here tempfail, 451 4.3.0), the trace says what went
// wrong, the stage counts an error, and the next session connects anew.
func TestGarbageAnswersAreStageErrors(t *testing.T) {
	for name, answer := range map[string][]byte{
		"unknown code":          framed([]byte{'Z'}),
		"reply code 250":        framed(pkt('y', "250 2.0.0 fine")),
		"reply code not digits": framed(pkt('y', "abc def")),
		"reply without text":    framed(pkt('y', "550")),
		"zero length":           {0, 0, 0, 0},
		"length over the limit": {0x7f, 0xff, 0xff, 0xff, 'c'},
	} {
		t.Run(name, func(t *testing.T) {
			var n atomic.Int32
			addr := scriptPeer(t, func(cmd byte, _ []byte) [][]byte {
				if cmd == 'R' && n.Add(1) == 1 {
					return [][]byte{answer}
				}
				return nil
			})
			st := newStage(t, addr)
			p := onePipeline(st, config.OnErrorTempfail)
			var observed []string // what the metrics are told
			p.SetObserver(func(_ string, h sdk.Hook, verdict string, _ time.Duration, failed bool) {
				if failed {
					observed = append(observed, string(h)+" "+verdict)
				}
			})
			r := runSession(t, p, plainMessage, "bob@example.net")
			if r.step != "rcpt bob@example.net" || r.out.Action != sdk.ActionTempfail || r.out.Reply.String() != "451 4.3.0 Temporary local problem, please try again later" {
				t.Fatalf("%s: %v %v", r.step, r.out.Action, r.out.Reply)
			}
			last := r.entries[len(r.entries)-1]
			if last.Action != "error" || last.OnError != "tempfail" || !strings.Contains(last.Error, "rcpt") {
				t.Fatalf("trace %+v", last)
			}
			if st := p.Status()[0]; st.Errors != 1 || strings.Join(observed, ",") != "rcpt error" {
				t.Fatalf("status %+v, metrics told %q; want 1 error at rcpt", st, observed)
			}
			if r := runSession(t, p, plainMessage, "bob@example.net"); r.step != "data" || !r.out.OK() {
				t.Fatalf("next session: %s %+v", r.step, r.out)
			}
			if state, restarts := st.Health(); state != "running" || restarts != 1 {
				t.Fatalf("health %s %d, want running 1", state, restarts)
			}
		})
	}
}

// Many sessions at once against one milter: each has a milter
// connection of its own (no pooling: a milter keeps per-connection
// state, the transaction it is in), so each message gets its own
// milter's changes, none another session's, and every call is counted.
func TestConcurrentSessionsEachHaveTheirOwnConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int32
	srv := &gm.Server{NewMilter: func() gm.Milter { return &rcptEcho{conns: &conns} }, Actions: gm.OptAddHeader}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := "tcp:" + ln.Addr().String()
	st := newStage(t, addr)
	p := onePipeline(st, config.OnErrorTempfail)
	const n = 48
	errs := make(chan error, n)
	for i := range n {
		go func() {
			rcpt := fmt.Sprintf("r%d@example.net", i)
			r := runSession(t, p, plainMessage, rcpt)
			switch {
			case r.step != "data" || !r.out.OK():
				errs <- fmt.Errorf("%s: %s %+v", rcpt, r.step, r.out)
			case r.msg.Get("X-Seen-Rcpt") != rcpt:
				errs <- fmt.Errorf("%s got the header %q", rcpt, r.msg.Get("X-Seen-Rcpt"))
			default:
				errs <- nil
			}
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := conns.Load(); got != n {
		t.Errorf("%d milter connections for %d sessions", got, n)
	}
	// connect, helo, mail, rcpt and data, each counted once per session.
	if s := p.Status()[0]; s.Calls != 5*n || s.Errors != 0 || s.State != "running" || s.Restarts != 0 {
		t.Errorf("status %+v, want %d calls and no error", s, 5*n)
	}
}

// rcptEcho adds the recipients it was given as X-Seen-Rcpt and counts
// the sessions it sees.
type rcptEcho struct {
	gm.NoOpMilter
	conns *atomic.Int32 // counts SMFIC_CONNECT
	rcpts []string
}

func (m *rcptEcho) Connect(string, string, uint16, net.IP, *gm.Modifier) (gm.Response, error) {
	m.conns.Add(1)
	return gm.RespContinue, nil
}

func (m *rcptEcho) RcptTo(to string, _ *gm.Modifier) (gm.Response, error) {
	m.rcpts = append(m.rcpts, strings.Trim(to, "<>"))
	return gm.RespContinue, nil
}

func (m *rcptEcho) Body(mod *gm.Modifier) (gm.Response, error) {
	return gm.RespContinue, mod.AddHeader("X-Seen-Rcpt", strings.Join(m.rcpts, ","))
}

// Header edits on a message with a field twice, applied in the order
// the milter sent them, as Sendmail and Postfix apply them: SMFIR_CHGHEADER's
// index is the 1-based occurrence of the name, case-insensitively; an
// empty value deletes; an index past the last occurrence adds the field
// (Postfix, cleanup_milter.c); SMFIR_INSHEADER's index counts every
// field from the top (0 is the first).
func TestHeaderIndexSemanticsWithDuplicates(t *testing.T) {
	addr, _ := serve(t, eobWith(func(m *gm.Modifier) error {
		for _, f := range []func() error{
			func() error { return m.ChangeHeader(2, "X-Twice", "two changed") },
			func() error { return m.ChangeHeader(1, "x-twice", "") },
			func() error { return m.ChangeHeader(3, "X-Twice", "added past the end") },
			func() error { return m.InsertHeader(1, "X-Ins", "second field") },
		} {
			if err := f(); err != nil {
				return err
			}
		}
		return nil
	}, gm.RespContinue), 0)
	p := onePipeline(newStage(t, addr), config.OnErrorTempfail)
	r := runSession(t, p, "From: a@example.org\r\nX-Twice: one\r\nSubject: s\r\nX-Twice: two\r\n\r\nbody\r\n", "bob@example.net")
	if !r.out.OK() {
		t.Fatalf("%s: %+v", r.step, r.out)
	}
	want := "From: a@example.org\r\nX-Ins: second field\r\nSubject: s\r\nX-Twice: two changed\r\nX-Twice: added past the end\r\n\r\nbody\r\n"
	if got := string(r.msg.Bytes()); got != want {
		t.Fatalf("message\n%q\nwant\n%q", got, want)
	}
	last := r.entries[len(r.entries)-1]
	if last.Hook != sdk.HookData || len(last.Edits) != 4 {
		t.Fatalf("trace %+v, want the data hook's 4 edits", last)
	}
}

// A milter that is not listening when a session starts fails that
// session's steps with on_error (the connect step first); once it
// listens, the next session uses it, and the stage counts a restart.
func TestMilterComingUpLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport := ln.Addr().String()
	ln.Close()
	st := newStage(t, "tcp:"+hostport)
	p := onePipeline(st, config.OnErrorTempfail)
	r := runSession(t, p, plainMessage, "bob@example.net")
	if r.step != "connect" || r.out.Action != sdk.ActionTempfail || !strings.Contains(r.entries[0].Error, "stage is down") {
		t.Fatalf("milter down: %s %+v %+v", r.step, r.out, r.entries)
	}
	if state, _ := st.Health(); state != "down" {
		t.Fatalf("health %s, want down", state)
	}
	ln2, err := net.Listen("tcp", hostport)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", hostport, err)
	}
	serveOn(t, ln2, scripted{rec: &record{}}, 0)
	if r := runSession(t, p, plainMessage, "bob@example.net"); r.step != "data" || !r.out.OK() {
		t.Fatalf("milter up: %s %+v", r.step, r.out)
	}
	if state, restarts := st.Health(); state != "running" || restarts != 1 {
		t.Fatalf("health %s %d, want running 1", state, restarts)
	}
	if s := p.Status()[0]; s.Errors != 1 {
		t.Fatalf("status %+v, want the one error of the first session", s)
	}
}

// A packet length is not trusted for an allocation: a milter that
// announces a gigabyte and sends a few bytes costs a few bytes, then an
// error when it hangs up.
func TestAnnouncedPacketLengthIsNotAllocatedUpFront(t *testing.T) {
	addr := scriptPeer(t, func(cmd byte, _ []byte) [][]byte {
		if cmd == 'E' {
			return [][]byte{{0x3f, 0xff, 0xff, 0xf0, 'b', 'x', 'y'}, nil}
		}
		return nil
	})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := runSession(t, onePipeline(newStage(t, addr), config.OnErrorTempfail), plainMessage, "bob@example.net")
	runtime.ReadMemStats(&after)
	if r.step != "data" || r.out.Action != sdk.ActionTempfail {
		t.Fatalf("%s: %+v", r.step, r.out)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 64<<20 {
		t.Fatalf("%d MiB allocated for a packet announced at 1 GiB", n>>20)
	}
}
