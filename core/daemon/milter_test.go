package daemon

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// subjectMilter is a go-milter milter that prefixes the Subject with its
// tag at end of message, refuses RCPT for nobody@remote.test and, when
// drops is above zero, drops the connection in the middle of the body
// (and counts down).
type subjectMilter struct {
	gm.NoOpMilter
	tag     string
	drops   *atomic.Int32
	subject string
}

func (m *subjectMilter) RcptTo(to string, _ *gm.Modifier) (gm.Response, error) {
	if to == "nobody@remote.test" {
		return gm.NewResponseStr('y', "550 5.1.1 no such user here"), nil
	}
	return gm.RespContinue, nil
}

func (m *subjectMilter) Header(name, value string, _ *gm.Modifier) (gm.Response, error) {
	if strings.EqualFold(name, "Subject") {
		m.subject = value
	}
	return gm.RespContinue, nil
}

func (m *subjectMilter) BodyChunk([]byte, *gm.Modifier) (gm.Response, error) {
	if m.drops != nil && m.drops.Add(-1) >= 0 {
		return nil, fmt.Errorf("closing the socket mid-body")
	}
	return gm.RespContinue, nil
}

func (m *subjectMilter) Body(mod *gm.Modifier) (gm.Response, error) {
	if err := mod.ChangeHeader(1, "Subject", m.tag+m.subject); err != nil {
		return nil, err
	}
	return gm.RespContinue, mod.AddHeader("X-Milter", m.tag)
}

// startMilter serves a subjectMilter on ln (or a fresh loopback port) and
// returns its stage address.
func startMilter(t *testing.T, ln net.Listener, tag string) string {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	srv := &gm.Server{
		NewMilter: func() gm.Milter { return &subjectMilter{tag: tag} },
		Actions:   gm.OptAddHeader | gm.OptChangeHeader,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "tcp:" + ln.Addr().String()
}

func milterStage(name, addr, extra string) string {
	return fmt.Sprintf("[[stage]]\nname = %q\nmilter = %q\n%s\n", name, addr, extra)
}

// TestMilterBetweenPluginsOrderBothWays: a milter sees the message as the
// stages before it left it, and its changes are seen by the stages after
// it — plugin → milter → plugin, each prefixing the Subject.
func TestMilterBetweenPluginsOrderBothWays(t *testing.T) {
	prefix := func(p string) string {
		return fmt.Sprintf(`{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": %q, "prefix": true}]}}}`, p)
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	m := startMilter(t, nil, "[m]")
	d := startDaemon(t, relayTo(sink)+actorStage(t, "a", prefix("[a]"), "")+milterStage("m", m, "")+actorStage(t, "b", prefix("[b]"), ""))
	r, err := send(t, d, "order")
	if err != nil {
		t.Fatal(err)
	}
	got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.Contains(got, "Subject: [b][m][a]order\r\n") || !strings.Contains(got, "\r\nX-Milter: [m]\r\n") {
		t.Fatalf("want [b][m][a] and the milter's header:\n%s", got)
	}
	tr := getTrace(t, d, queuedID(t, r))
	var stages []string
	for _, e := range tr.Entries {
		if e.Hook == "data" {
			stages = append(stages, e.Stage)
		}
	}
	if strings.Join(stages, ",") != "a,m,b" {
		t.Fatalf("data hook order %v", stages)
	}
}

func TestMilterBeforePluginSwapped(t *testing.T) {
	prefix := `{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": "[a]", "prefix": true}]}}}`
	sink := testlib.NewSink(t, "127.0.0.1:0")
	m := startMilter(t, nil, "[m]")
	d := startDaemon(t, relayTo(sink)+milterStage("m", m, "")+actorStage(t, "a", prefix, ""))
	if _, err := send(t, d, "order"); err != nil {
		t.Fatal(err)
	}
	if got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data); !strings.Contains(got, "Subject: [a][m]order\r\n") {
		t.Fatalf("want [a][m]:\n%s", got)
	}
}

// TestMilterRejectAtRcptRefusesOneRecipient: the milter's reply code at
// RCPT refuses that recipient; the message goes to the other.
func TestMilterRejectAtRcptRefusesOneRecipient(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+milterStage("m", startMilter(t, nil, "[m]"), ""))
	c := openTxn(t, d)
	err := c.Rcpt("nobody@remote.test", nil)
	if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) || se.Message != "no such user here" {
		t.Fatalf("rcpt nobody: %v", err)
	}
	if err := c.Rcpt("bob@remote.test", nil); err != nil {
		t.Fatalf("rcpt bob: %v", err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write(testlib.Message("alice@sluice.test", "bob@remote.test", "one", "hi"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if strings.Join(got.Rcpts, ",") != "bob@remote.test" {
		t.Fatalf("rcpts %v", got.Rcpts)
	}
}

// TestDeadMilterOnError: nothing listens; on_error decides, counted in
// /api/pipeline; once the milter is up the next session reconnects.
func TestDeadMilterOnError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostport := ln.Addr().String()
	ln.Close()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+
		milterStage("strict", "tcp:"+hostport, "timeout = \"1s\"\non_error = \"tempfail\""))
	// At connect the tempfail greets 421 (RFC 5321 §4.3.2), with the code's detail.
	if _, err := send(t, d, "x"); err == nil || !strings.Contains(err.Error(), "421 4.3.0") {
		t.Fatalf("dead milter with on_error=tempfail: %v", err)
	}
	waitStage(t, d, "strict", func(s pipeline.StageStatus) bool {
		return s.Kind == "milter" && s.State == "down" && s.Errors >= 1
	})
	ln, err = net.Listen("tcp", hostport)
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", hostport, err)
	}
	startMilter(t, ln, "[up]")
	if _, err := send(t, d, "back"); err != nil {
		t.Fatalf("after the milter came up: %v", err)
	}
	waitStage(t, d, "strict", func(s pipeline.StageStatus) bool { return s.State == "running" && s.Restarts == 1 })
	got := sink.WaitN(t, 1, 10*time.Second)
	if !strings.Contains(string(got[0].Data), "Subject: [up]back") {
		t.Fatalf("%s", got[0].Data)
	}
	waitEmpty(t, d)
	if n := len(sink.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}

func TestDeadMilterOnErrorContinueDelivers(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := "tcp:" + ln.Addr().String()
	ln.Close()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+milterStage("lenient", addr, "timeout = \"1s\"\non_error = \"continue\""))
	if _, err := send(t, d, "through"); err != nil {
		t.Fatal(err)
	}
	if got := sink.WaitN(t, 1, 10*time.Second); !strings.Contains(string(got[0].Data), "Subject: through") {
		t.Fatalf("%s", got[0].Data)
	}
}

// TestMilterDroppingMidBodyLosesNothing: the milter closes its socket in
// the middle of the first message's body: that message gets on_error
// (451, not queued), the next session reconnects, and the sink gets each
// accepted message exactly once.
func TestMilterDroppingMidBodyLosesNothing(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	var drops atomic.Int32
	drops.Store(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gm.Server{
		NewMilter: func() gm.Milter { return &subjectMilter{tag: "[ok]", drops: &drops} },
		Actions:   gm.OptAddHeader | gm.OptChangeHeader,
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	d := startDaemon(t, relayTo(sink)+milterStage("flaky", "tcp:"+ln.Addr().String(), "on_error = \"tempfail\""))
	if _, err := send(t, d, "first"); err == nil || !strings.Contains(err.Error(), "451 4.3.0") {
		t.Fatalf("milter gone mid-body: %v", err)
	}
	if msgs, _ := d.Queue().List(0); len(msgs) != 0 {
		t.Fatalf("refused message queued: %+v", msgs[0])
	}
	for i := 0; i < 3; i++ {
		if _, err := send(t, d, fmt.Sprint("msg", i)); err != nil {
			t.Fatalf("after reconnect: %v", err)
		}
	}
	waitEmpty(t, d)
	seen := map[string]int{}
	for _, g := range sink.WaitN(t, 3, 10*time.Second) {
		for _, line := range strings.Split(string(g.Data), "\r\n") {
			if strings.HasPrefix(line, "Subject: ") {
				seen[line]++
			}
		}
	}
	for i := 0; i < 3; i++ {
		if s := fmt.Sprintf("Subject: [ok]msg%d", i); seen[s] != 1 {
			t.Fatalf("%s delivered %d times (%v)", s, seen[s], seen)
		}
	}
	if n := len(sink.Deliveries()); n != 3 {
		t.Fatalf("%d deliveries, want 3", n)
	}
	st := d.pipe().Status()[0]
	if st.Errors != 1 || st.Restarts != 1 || st.State != "running" {
		t.Fatalf("want 1 error, 1 restart, running: %+v", st)
	}
}

// slowMilter answers at end of message only after release is closed.
type slowMilter struct {
	gm.NoOpMilter
	release chan struct{}
}

func (m *slowMilter) Body(*gm.Modifier) (gm.Response, error) {
	<-m.release
	return gm.RespContinue, nil
}

// TestSlowMilterTimesOutToOnError: the stage's data_timeout cuts a
// milter that does not answer at the body; on_error continue delivers
// the message untouched. Its timeout, which bounds the milter's other
// steps, which answer, is 30 s, far from what a loaded machine takes
// (300 ms for every step was a bound it can miss): a send that took 10 s
// would show the body's wait bounded by it, not by data_timeout.
func TestSlowMilterTimesOutToOnError(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &gm.Server{NewMilter: func() gm.Milter { return &slowMilter{release: release} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(release); _ = srv.Close() })
	sink := testlib.NewSink(t, "127.0.0.1:0")
	d := startDaemon(t, relayTo(sink)+milterStage("slow", "tcp:"+ln.Addr().String(), "timeout = \"30s\"\ndata_timeout = \"300ms\"\non_error = \"continue\""))
	start := time.Now()
	if _, err := send(t, d, "patience"); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v with a data_timeout of 300ms", el)
	}
	sink.WaitN(t, 1, 10*time.Second)
	if st := d.pipe().Status()[0]; st.Errors != 1 {
		t.Fatalf("timeout not counted: %+v", st)
	}
}

// openTxn dials d's mx listener, greets it and opens a transaction from
// alice@sluice.test; the client is closed when the test ends.
func openTxn(t *testing.T, d *Daemon) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(d.SMTPAddrs()["mx"].String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail("alice@sluice.test", nil); err != nil {
		t.Fatal(err)
	}
	return c
}
