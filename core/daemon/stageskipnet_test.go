package daemon

import (
	"encoding/json"
	"fmt"
	"net"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A stage with skip_networks = ["127.0.0.1"] does not serve a session
// from 127.0.0.1, as a Postfix milter disabled by smtpd_milter_maps: the
// plugin is not asked (its RCPT refusal does not happen, the trace says
// it was skipped) and the milter is never connected; from 127.0.0.2 both
// are. XCLIENT opens the stages again for the client it names, and the
// filter follows it, either way.
func TestStageSkipNetworksPerClient(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var connects atomic.Int32
	srv := &gm.Server{NewMilter: func() gm.Milter { return &connectCounter{n: &connects} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	const refuse = `{"rcpt": {"spam@remote.test": {"action": "reject", "code": 550, "enhanced": "5.7.1", "text": "not from here"}}}`
	skip := `skip_networks = ["127.0.0.1", "::1/128"]`
	src := fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\n"+
		"relay_networks = [\"127.0.0.0/8\"]\n[admin]\nlisten = \"127.0.0.1:0\"\n", filepath.Join(t.TempDir(), "data")) +
		relayTo(sink) +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\nxclient_hosts = [\"127.0.0.0/8\"]\n" +
		actorStage(t, "tag", refuse, skip) + milterStage("m", "tcp:"+ln.Addr().String(), skip)
	d, _ := startFile(t, src)

	// session dials the listener from the loopback address from, sends
	// XCLIENT ADDR=xclient first when set, and returns RCPT spam@'s
	// reply code and the queue id of a message to bob@.
	session := func(from, xclient string) (int, string) {
		t.Helper()
		dl := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		nc, err := dl.Dial("tcp", d.SMTPAddrs()["mx"].String())
		if err != nil {
			t.Fatal(err)
		}
		c := textproto.NewConn(nc)
		defer c.Close()
		step := func(code int, cmd string) (int, string) {
			t.Helper()
			if cmd != "" {
				if err := c.PrintfLine("%s", cmd); err != nil {
					t.Fatal(err)
				}
			}
			got, msg, err := c.ReadResponse(code)
			if err != nil && code != 0 {
				t.Fatalf("from %s: %q: %v", from, cmd, err)
			}
			return got, msg
		}
		step(220, "")
		if xclient != "" {
			step(250, "EHLO proxy.test")
			step(220, "XCLIENT ADDR="+xclient+" NAME=client.test")
		}
		step(250, "EHLO client.test")
		step(250, "MAIL FROM:<alice@sluice.test>")
		spam, _ := step(0, "RCPT TO:<spam@remote.test>")
		step(250, "RCPT TO:<bob@remote.test>")
		step(354, "DATA")
		if _, err := c.W.Write(testlib.Message("alice@sluice.test", "bob@remote.test", "x", "x")); err != nil {
			t.Fatal(err)
		}
		_, msg := step(250, ".")
		step(221, "QUIT")
		return spam, queuedID(t, msg)
	}
	skipped := func(id string) string {
		t.Helper()
		var tr pipeline.Trace
		if raw, err := d.Queue().Trace(id); err != nil {
			t.Fatal(err)
		} else if err := json.Unmarshal(raw, &tr); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, te := range tr.Entries {
			if te.Action == "skipped" {
				out = append(out, fmt.Sprintf("%s %s %s: %s", te.Stage, te.Hook, te.Action, te.Reason))
			}
		}
		return strings.Join(out, "|")
	}
	const wantSkipped = "tag data skipped: client in skip_networks|m data skipped: client in skip_networks"

	for _, s := range d.pipe().Status() {
		if got, _ := json.Marshal(s); !strings.Contains(string(got), `"skip_networks":["127.0.0.1/32","::1/128"]`) {
			t.Errorf("/api/pipeline: stage %s is %s, want its skip_networks", s.Name, got)
		}
	}

	code, id := session("127.0.0.1", "")
	if code != 250 {
		t.Errorf("from 127.0.0.1: RCPT spam@ got %d, want 250 (the stage skips the client)", code)
	}
	if n := connects.Load(); n != 0 {
		t.Errorf("from 127.0.0.1: the milter was connected %d times, want never", n)
	}
	if got := skipped(id); got != wantSkipped {
		t.Errorf("from 127.0.0.1: skipped %q, want %q", got, wantSkipped)
	}

	code, id = session("127.0.0.2", "")
	if code != 550 {
		t.Errorf("from 127.0.0.2: RCPT spam@ got %d, want the stage's 550", code)
	}
	if n := connects.Load(); n != 1 {
		t.Errorf("from 127.0.0.2: the milter was connected %d times, want once", n)
	}
	if got := skipped(id); got != "" {
		t.Errorf("from 127.0.0.2: skipped %q, want none", got)
	}

	// A proxy at 127.0.0.2 (the stages open for it) naming 127.0.0.1.
	if code, id = session("127.0.0.2", "127.0.0.1"); code != 250 {
		t.Errorf("XCLIENT ADDR=127.0.0.1: RCPT spam@ got %d, want 250", code)
	}
	if n := connects.Load(); n != 2 {
		t.Errorf("XCLIENT ADDR=127.0.0.1: the milter was connected %d times in all, want 2 (the proxy's only)", n)
	}
	if got := skipped(id); got != wantSkipped {
		t.Errorf("XCLIENT ADDR=127.0.0.1: skipped %q, want %q", got, wantSkipped)
	}
	// A proxy at 127.0.0.1 (skipped) naming 127.0.0.2.
	if code, _ = session("127.0.0.1", "127.0.0.2"); code != 550 {
		t.Errorf("XCLIENT ADDR=127.0.0.2: RCPT spam@ got %d, want the stage's 550", code)
	}
	if n := connects.Load(); n != 3 {
		t.Errorf("XCLIENT ADDR=127.0.0.2: the milter was connected %d times in all, want 3", n)
	}
	waitEmpty(t, d)
}
