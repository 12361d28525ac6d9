package daemon

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// greyServer is a policy server speaking Postfix's delegation protocol
// on loopback, greylisting as postgrey does: a triplet's first RCPT is
// answered DEFER_IF_PERMIT, the next ones PREPEND an X-Greylist field
// once a message (by instance). It records each request.
type greyServer struct {
	ln   net.Listener
	mu   sync.Mutex
	seen map[string]bool // triplets
	inst map[string]bool // instances given the field
	reqs []map[string]string
}

func newGreyServer(t *testing.T) *greyServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &greyServer{ln: ln, seen: map[string]bool{}, inst: map[string]bool{}}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.serve(c)
		}
	}()
	return g
}

func (g *greyServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	attrs := map[string]string{}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		if line = strings.TrimSuffix(line, "\n"); line != "" {
			k, v, _ := strings.Cut(line, "=")
			attrs[k] = v
			continue
		}
		g.mu.Lock()
		g.reqs = append(g.reqs, attrs)
		triplet := attrs["client_address"] + "/" + attrs["sender"] + "/" + attrs["recipient"]
		answer := "DUNNO"
		switch {
		case !g.seen[triplet]:
			g.seen[triplet] = true
			answer = "DEFER_IF_PERMIT 4.2.0 Greylisted, see http://postgrey.example/help/example.org.html"
		case !g.inst[attrs["instance"]]:
			g.inst[attrs["instance"]] = true
			answer = "PREPEND X-Greylist: delayed 0 seconds by greyServer"
		}
		g.mu.Unlock()
		attrs = map[string]string{}
		if _, err := fmt.Fprintf(c, "action=%s\n\n", answer); err != nil {
			return
		}
	}
}

func (g *greyServer) requests() []map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]map[string]string(nil), g.reqs...)
}

// The policy plugin, run by the daemon as its own process, asking a
// greylisting policy server at RCPT: the first attempt of a triplet gets
// the server's deferral as Postfix words it, the retry goes through
// with the PREPENDed field on the message delivered, once though the
// message has two recipients, and the trace says what the server
// answered. The requests carry the session as Sluice saw it.
func TestPolicyStageEndToEnd(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	grey := newGreyServer(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	data := filepath.Join(t.TempDir(), "data")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["example.org"]
relay_networks = ["192.0.2.0/24"]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[delivery]
relay = %q
[[stage]]
name = "postgrey"
plugin = "policy"
[stage.config]
server = "inet:%s"
`, data, sink.Addr, grey.ln.Addr())
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	addr := d.SMTPAddrs()["mx"].String()
	from, to := "sender@origin.test", []string{"bob@example.org", "carol@example.org"}
	msg := testlib.Message(from, to[0], "greylisted", "hi")

	_, err = testlib.Send(addr, from, to, msg)
	want := "450 4.2.0 <bob@example.org>: Recipient address rejected: Greylisted, see http://postgrey.example/help/example.org.html"
	if err == nil || err.Error() != want {
		t.Fatalf("first attempt: %v, want %s", err, want)
	}
	// carol's triplet was not seen yet either: the retry sends both.
	if _, err = testlib.Send(addr, from, to[1:], msg); err == nil {
		t.Fatal("carol's first attempt went through")
	}
	r, err := testlib.Send(addr, from, to, msg)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := string(sink.WaitN(t, 1, 20*time.Second)[0].Data)
	if n := strings.Count(got, "X-Greylist: delayed 0 seconds by greyServer\r\n"); n != 1 || !strings.HasPrefix(got, "X-Greylist: ") {
		t.Errorf("the delivered message has %d X-Greylist fields (want 1, at the top):\n%s", n, got)
	}
	var why string
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Stage == "postgrey" && e.Hook == "rcpt" && e.Rcpt == "bob@example.org" {
			why = e.Reason
		}
	}
	if !strings.Contains(why, "at RCPT: action=PREPEND X-Greylist: delayed 0 seconds by greyServer") {
		t.Errorf("the trace of the policy stage: %q", why)
	}

	reqs := grey.requests()
	last := reqs[len(reqs)-2:] // the retry's two RCPTs
	if last[0]["instance"] != last[1]["instance"] || last[0]["instance"] == reqs[0]["instance"] {
		t.Errorf("instances %q, %q (the first attempt's %q): want one a message", last[0]["instance"], last[1]["instance"], reqs[0]["instance"])
	}
	for k, v := range map[string]string{"request": "smtpd_access_policy", "protocol_state": "RCPT", "client_address": "127.0.0.1",
		"client_name": "localhost", "helo_name": "client.test", "sender": from, "recipient": "carol@example.org"} {
		if last[1][k] != v {
			t.Errorf("request %s=%q, want %q", k, last[1][k], v)
		}
	}
}
