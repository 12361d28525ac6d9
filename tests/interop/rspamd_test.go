//go:build interop

package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/internal/udptcp"
)

// Debian's rspamd (scripts/install-deps.sh milters) as a milter stage:
// its proxy worker speaks milter and scans the message itself. One rspamd
// serves every test of the binary (stopped by TestMain): its first start
// compiles hyperscan databases for about 20 s, so they are cached across
// runs in rspamdCacheDir (a second start takes about 1 s). Its resolver
// asks only a miekg/dns server on loopback that answers NXDOMAIN to
// everything and records each question.

// rspamdCacheDir keeps rspamd's compiled hyperscan databases between
// runs. rspamd checks each file against its expressions and platform
// and recompiles what does not match, so a stale file costs time only.
// It is under the temp dir, not the user's cache, because rspamd runs as
// _rspamd and must reach it.
var rspamdCacheDir = filepath.Join(os.TempDir(), "sluice-interop-rspamd-hs")

type rspamdPeer struct {
	milter string      // rspamd's milter address
	dns    *dnsLog     // its only DNS server
	d      *peerDaemon // rspamd; its log() is rspamd's stdout and stderr
	stop   func()      // ends it and the DNS server
	err    error       // why it did not start
	skip   string      // why rspamd cannot be installed here
}

var (
	rspamdOnce   sync.Once
	sharedRspamd *rspamdPeer
)

// needRspamd returns the shared rspamd, starting it at the first call.
func needRspamd(t *testing.T) *rspamdPeer {
	t.Helper()
	rspamdOnce.Do(func() { sharedRspamd = startRspamd() })
	p := sharedRspamd
	if p.skip != "" {
		t.Skip(p.skip)
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return p
}

// stopRspamd ends the shared rspamd if a test started it.
func stopRspamd() {
	if sharedRspamd != nil && sharedRspamd.stop != nil {
		sharedRspamd.stop()
	}
}

func startRspamd() *rspamdPeer {
	p := &rspamdPeer{}
	if _, err := exec.LookPath("rspamd"); err != nil {
		// Skipped only where the archive has no rspamd at all; where it
		// has one, make interop installs it and its absence is a failure.
		if exec.Command("apt-cache", "show", "rspamd").Run() != nil {
			p.skip = "rspamd cannot be installed here: apt-cache has no rspamd package"
		} else {
			p.err = errors.New("rspamd not installed (make interop installs it)")
		}
		return p
	}
	dl, err := startDNSLog()
	if err != nil {
		p.err = err
		return p
	}
	dir, err := os.MkdirTemp("", "sluice-rspamd-")
	if err == nil {
		err = errors.Join(os.Chmod(dir, 0o755), os.MkdirAll(rspamdCacheDir, 0o755))
	}
	if err != nil {
		dl.stop()
		p.err = err
		return p
	}
	p.dns, p.milter = dl, freeAddrNoT()
	script, _ := filepath.Abs(filepath.Join("milters", "start-rspamd.sh"))
	// A first start compiles for about 20 s, longer on a loaded machine.
	p.d, p.err = startPeerDaemon("rspamd", exec.Command("sh", script, filepath.Join(dir, "r"), port(p.milter), dl.addr, rspamdCacheDir),
		filepath.Join(dir, "out"), p.milter, 120*time.Second, 10*time.Second)
	if p.err != nil {
		dl.stop()
		os.RemoveAll(dir)
		return p
	}
	p.stop = func() {
		p.d.stop()
		dl.stop()
		os.RemoveAll(dir)
	}
	return p
}

func freeAddrNoT() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// dnsLog is a DNS server on loopback (UDP and TCP on one port) that
// answers NXDOMAIN to every question and keeps them.
type dnsLog struct {
	addr string
	mu   sync.Mutex
	qs   []string // "name type"
	stop func()
}

func startDNSLog() (*dnsLog, error) {
	pc, ln, err := udptcp.Listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		return nil, err
	}
	d := &dnsLog{addr: pc.LocalAddr().String()}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		d.mu.Lock()
		for _, q := range req.Question {
			d.qs = append(d.qs, strings.ToLower(q.Name)+" "+dns.TypeToString[q.Qtype])
		}
		d.mu.Unlock()
		_ = w.WriteMsg(m)
	})
	srvs := []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}}
	for _, s := range srvs {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
	}
	d.stop = func() {
		for _, s := range srvs {
			_ = s.Shutdown()
		}
	}
	return d, nil
}

func (d *dnsLog) questions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.qs...)
}

// TestMilterRspamd runs rspamd's milter proxy as a stage, written as the
// README writes it: GTUBE is refused with rspamd's reply, a clean message
// gets its headers, a forged spam flag is replaced, and nothing rspamd
// looks up leaves loopback.
func TestMilterRspamd(t *testing.T) {
	p := needRspamd(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	stage := fmt.Sprintf("[[stage]]\nname = \"rspamd\"\nmilter = \"inet:%s\"\ntimeout = \"30s\"\n", p.milter)
	addr, admin := startSluiceWith(t, sink.Addr, stage)
	delivered := 0

	t.Run("GTUBE refused", func(t *testing.T) {
		gtube, err := os.ReadFile(scriptPath(t, "gtube.eml"))
		if err != nil {
			t.Fatal(err)
		}
		gtube = bytes.ReplaceAll(bytes.ReplaceAll(gtube, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		// rspamd's GTUBE check forces its reject action, which its proxy
		// sends as SMFIR_REPLYCODE at end of data.
		_, err = testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, gtube)
		if err == nil || err.Error() != "554 5.7.1 Gtube pattern" {
			t.Fatalf("GTUBE: got %v, want 554 5.7.1 Gtube pattern", err)
		}
	})

	t.Run("clean message tagged", func(t *testing.T) {
		if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
			message("alice@example.org", "lunch on friday")); err != nil {
			t.Fatal(err)
		}
		delivered++
		got := sink.WaitN(t, delivered, 30*time.Second)
		if len(got) != delivered {
			t.Fatalf("%d deliveries, want %d: the refused GTUBE must not reach the sink", len(got), delivered)
		}
		data := string(got[delivered-1].Data)
		if !strings.Contains(data, "lunch on friday") {
			t.Fatalf("first delivery is not the clean message:\n%s", data)
		}
		for _, want := range []string{
			// Inserted at index 1, under Sluice's own Received, as
			// Postfix places it. Its authserv-id is rspamd's MTA-Name,
			// the {daemon_name} macro: the listener's name.
			"for <bob@example.net>; ", "\r\nAuthentication-Results: mx;\r\n\tnone\r\nFrom: <alice@example.org>\r\n",
			// Added at the end in an order rspamd does not keep from
			// one run to the next, as are the zero-score symbols.
			"\r\nX-Rspamd-Server: ",
			"\r\nX-Spam-Status: No, score=0.90\r\n",
			// Folded with "\n\t" over milter, CRLF here. The score is
			// MISSING_DATE's (1.00) and MIME_GOOD's (-0.10): rspamd is
			// not shown Sluice's own Received field, as Postfix does not
			// show it its own, so it finds no Received field without TLS
			// (RCVD_NO_TLS_LAST) but none at all (RCVD_COUNT_ZERO, 0).
			"\r\nX-Spamd-Result: default: False [0.90 / 15.00];\r\n\tMISSING_DATE(1.00)[];\r\n\t",
			"\r\n\r\nHello,\r\nthis is the body.\r\n",
		} {
			if !strings.Contains(data, want) {
				t.Errorf("missing %q in\n%s", want, data)
			}
		}
		if strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") {
			t.Errorf("bare LF in the delivered message:\n%q", data)
		}
		if strings.Contains(data, "\r\nX-Spam: ") {
			t.Errorf("X-Spam header on a clean message:\n%s", data)
		}
	})

	t.Run("forged spam flag replaced", func(t *testing.T) {
		// Two incoming X-Spam fields: rspamd deletes them by index
		// (SMFIR_CHGHEADER with an empty value, the second first), scores
		// SPAM_FLAG, and for its add_header action sets X-Spam[1], which
		// no longer exists and so is added at the end (smfi_chgheader).
		r, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
			message("alice@example.org", "forged flag", "X-Spam: maybe", "X-Spam: Yes"))
		if err != nil {
			t.Fatal(err)
		}
		delivered++
		data := string(sink.WaitN(t, delivered, 30*time.Second)[delivered-1].Data)
		if strings.Count(data, "X-Spam:") != 1 || strings.Contains(data, "maybe") ||
			!strings.HasSuffix(data, "\r\nX-Spam: Yes\r\n\r\nHello,\r\nthis is the body.\r\n") ||
			!strings.Contains(data, "\r\n\tSPAM_FLAG(5.00)[];\r\n") || !strings.Contains(data, "\r\nX-Spam-Status: Yes, score=5.90\r\n") {
			t.Errorf("want the forged X-Spam fields gone and rspamd's own last:\n%s", data)
		}
		id := r[strings.LastIndex(r, " ")+1:]
		if tr := traceOf(t, admin, id); !strings.Contains(tr, `"delete header X-Spam[2]","delete header X-Spam[1]"`) ||
			!strings.Contains(tr, `"change header X-Spam[1]: Yes"`) {
			t.Errorf("trace does not show rspamd's edits: %s", tr)
		}
	})

	t.Run("stays on loopback", func(t *testing.T) {
		// Every server rspamd configures (nameservers, any module's)
		// is logged as an upstream: only the test's DNS server.
		ups := 0
		for _, l := range strings.Split(p.d.log(), "\n") {
			i := strings.Index(l, "added upstream ")
			if i < 0 {
				continue
			}
			ups++
			if f := strings.Fields(l[i+len("added upstream "):]); len(f) == 0 || f[0] != p.dns.addr {
				t.Errorf("rspamd upstream other than the loopback DNS server %s: %s", p.dns.addr, l)
			}
		}
		if ups == 0 {
			t.Errorf("rspamd logged no upstream (debug_modules = [\"upstream\"]):\n%s", p.d.log())
		}
		// The scans asked the DNS server (RBL lookups of the HELO and
		// client names), and the HTTP maps rspamd refreshes at start
		// looked up maps.rspamd.com there, which has no address.
		deadline := time.Now().Add(30 * time.Second)
		for !slices.Contains(p.dns.questions(), "maps.rspamd.com. A") {
			if time.Now().After(deadline) {
				t.Fatalf("rspamd never asked for maps.rspamd.com; questions: %v", p.dns.questions())
			}
			time.Sleep(50 * time.Millisecond) // polling the DNS server's log, bounded
		}
		if qs := p.dns.questions(); !slices.Contains(qs, "client.test.dbl.spamhaus.org. A") {
			t.Errorf("no RBL lookup of the HELO name; questions: %v", qs)
		}
	})
	checkPipeline(t, admin, "rspamd")
}

func traceOf(t *testing.T, admin, id string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/api/trace/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
