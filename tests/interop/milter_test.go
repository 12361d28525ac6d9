//go:build interop

package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Real milters from Debian (scripts/install-deps.sh milters), each started
// on a free loopback port from the scripts in milters/, with configs and
// keys in the test's temp dir. The next hop is a go-smtp sink, which keeps
// the exact bytes Sluice sent (CRLF included) for the DKIM verifier.

const python = "/usr/bin/python3" // Debian's, with python3-milter and python3-dkim

func scriptPath(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("milters", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func port(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }

// milterStage renders a [[stage]] for the milter at addr.
func milterStage(name, addr string) string {
	return fmt.Sprintf("[[stage]]\nname = %q\nmilter = \"tcp:%s\"\ntimeout = \"30s\"\n", name, addr)
}

// subjectTagStage renders a plugin stage (the actor test plugin) that
// prefixes the Subject with tag.
func subjectTagStage(t *testing.T, name, tag string) string {
	bin := testlib.Build(t, "./internal/testplugins/actor")
	js := fmt.Sprintf(`{"data": {"*": {"edits": [{"op": "change_header", "name": "Subject", "value": %q, "prefix": true}]}}}`, tag)
	return fmt.Sprintf("[[stage]]\nname = %q\nplugin = %q\n[stage.config]\njson = %q\n", name, bin, js)
}

// startSluiceWith runs bin/sluice with stages, relaying everything to
// sink; it returns the SMTP and admin addresses.
func startSluiceWith(t *testing.T, sink, stages string) (string, string) {
	t.Helper()
	bin := os.Getenv("SLUICE_BIN")
	if bin == "" {
		t.Fatal("SLUICE_BIN not set (run make interop)")
	}
	dir := t.TempDir()
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "sluice.toml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = %q
[[listener]]
name = "mx"
listen = %q
[delivery]
relay = %q
%s
%s`, filepath.Join(dir, "data"), adminAddr, smtpAddr, sink, stages, loopbackDNS(t, stages))), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "-c", cfg)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var logb bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logb.WriteString(sc.Text() + "\n")
		}
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("sluice did not stop within 15s of SIGTERM")
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("sluice log:\n%s", logb.String())
		}
	})
	waitPort(t, smtpAddr, done)
	return smtpAddr, adminAddr
}

// message builds a small message with CRLF line ends.
func message(from, subject string, extra ...string) []byte {
	h := fmt.Sprintf("From: <%s>\r\nTo: <bob@example.net>\r\nSubject: %s\r\nMessage-ID: <%d@sluice.test>\r\n",
		from, subject, time.Now().UnixNano())
	for _, e := range extra {
		h += e + "\r\n"
	}
	return []byte(h + "\r\nHello,\r\nthis is the body.\r\n")
}

// TestMilterOpenDKIMSignsAfterSubjectRewrite: a plugin rewrites the
// Subject, then OpenDKIM signs; dkimpy verifies the signature. With the
// stages swapped, the rewrite breaks the signature.
func TestMilterOpenDKIMSignsAfterSubjectRewrite(t *testing.T) {
	need(t, "opendkim")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	dkim := freeAddr(t)
	startPeer(t, "opendkim", dkim, 20*time.Second, "sh", scriptPath(t, "start-opendkim.sh"), dir, port(dkim))
	keys := filepath.Join(dir, "keys.txt")
	for _, tc := range []struct {
		name, stages string
		verifies     bool
	}{
		{"plugin then opendkim", subjectTagStage(t, "tag", "[tagged] ") + milterStage("opendkim", dkim), true},
		{"opendkim then plugin", milterStage("opendkim", dkim) + subjectTagStage(t, "tag", "[tagged] "), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := testlib.NewSink(t, "127.0.0.1:0")
			addr, _ := startSluiceWith(t, sink.Addr, tc.stages)
			if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
				message("alice@example.org", "quarterly report")); err != nil {
				t.Fatal(err)
			}
			got := sink.WaitN(t, 1, 30*time.Second)[0].Data
			if !bytes.Contains(got, []byte("\r\nSubject: [tagged] quarterly report\r\n")) ||
				!bytes.Contains(got, []byte("DKIM-Signature: ")) || !bytes.Contains(got, []byte("d=example.org")) {
				t.Fatalf("want a tagged Subject and a DKIM-Signature:\n%s", got)
			}
			f := filepath.Join(t.TempDir(), "msg.eml")
			os.WriteFile(f, got, 0o600)
			out, err := exec.Command(python, scriptPath(t, "dkimverify.py"), f, keys).CombinedOutput()
			if verified := err == nil; verified != tc.verifies || !bytes.Contains(out, []byte("dkim verify: ")) {
				t.Fatalf("verified=%v, want %v: %s\n%s", verified, tc.verifies, out, got)
			}
		})
	}
}

// TestMilterSpamAssassinRejectsGTUBE: spamass-milter (with spamd) rejects
// the GTUBE message with 550 and tags a clean one.
func TestMilterSpamAssassinRejectsGTUBE(t *testing.T) {
	need(t, "spamass-milter")
	spamd := needSpamd(t).addr
	dir := t.TempDir()
	os.Chmod(dir, 0o777) // spamass-milter runs as nobody
	milter := freeAddr(t)
	startPeer(t, "spamass-milter", milter, 20*time.Second, "sh", scriptPath(t, "start-spamass-milter.sh"), dir, port(milter), port(spamd))
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, _ := startSluiceWith(t, sink.Addr, milterStage("spamassassin", milter))

	gtube, err := os.ReadFile(scriptPath(t, "gtube.eml"))
	if err != nil {
		t.Fatal(err)
	}
	gtube = bytes.ReplaceAll(bytes.ReplaceAll(gtube, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	_, err = testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, gtube)
	if err == nil || !strings.HasPrefix(err.Error(), "550 ") {
		t.Fatalf("GTUBE: want 550, got %v", err)
	}
	t.Logf("GTUBE refused: %v", err)
	if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
		message("alice@example.org", "lunch on friday")); err != nil {
		t.Fatalf("clean message: %v", err)
	}
	got := sink.WaitN(t, 1, 30*time.Second)
	if len(got) != 1 || !bytes.Contains(got[0].Data, []byte("X-Spam-Checker-Version: SpamAssassin")) ||
		!bytes.Contains(got[0].Data, []byte("X-Spam-Status: No")) {
		t.Fatalf("clean message not tagged:\n%s", got[0].Data)
	}
}

// TestMilterPythonEveryAction: the project's own python3-milter script
// (milters/allactions.py, on libmilter) performs every milter action.
func TestMilterPythonEveryAction(t *testing.T) {
	if err := exec.Command(python, "-c", "import Milter").Run(); err != nil {
		t.Fatalf("python3-milter not installed (make interop installs it): %v", err)
	}
	pm := freeAddr(t)
	startPeer(t, "allactions.py", pm, 20*time.Second, python, scriptPath(t, "allactions.py"), "inet:"+port(pm)+"@127.0.0.1")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr, admin := startSluiceWith(t, sink.Addr, milterStage("allactions", pm)+subjectTagStage(t, "after", "[after] "))

	t.Run("modifications", func(t *testing.T) {
		r, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net", "carol@example.net"},
			message("alice@example.org", "everything", "X-Delete-Me: please"))
		if err != nil {
			t.Fatal(err)
		}
		id := r[strings.LastIndex(r, " ")+1:]
		d := sink.WaitN(t, 1, 30*time.Second)[0]
		data := string(d.Data)
		if d.From != "bounce@allactions.test" {
			t.Errorf("sender %q, want bounce@allactions.test (chgfrom)", d.From)
		}
		if strings.Join(d.Rcpts, ",") != "carol@example.net,added@allactions.test" {
			t.Errorf("recipients %v, want carol (bob deleted) and added@allactions.test", d.Rcpts)
		}
		for _, want := range []string{
			"X-AllActions-Top: inserted at top\r\nReceived: ",            // insheader at 0
			"\r\nSubject: [after] [rewritten] everything\r\n",            // chgheader, then seen by the plugin after
			"\r\nX-AllActions-Added: line one\r\n\tline two\r\n",         // addheader folded with a bare LF, now CRLF
			"\r\n\r\nreplaced body part 1\r\npart 2\r\npart 3 (end)\r\n", // replbody in three chunks
		} {
			if !strings.Contains(data, want) {
				t.Errorf("missing %q in\n%s", want, data)
			}
		}
		if !strings.HasPrefix(data, "X-AllActions-Top: ") {
			t.Errorf("inserted header is not on top:\n%s", data)
		}
		if strings.Contains(data, "X-Delete-Me") || strings.Contains(data, "this is the body") {
			t.Errorf("delete header / replace body failed:\n%s", data)
		}
		saw := headerValue(data, "X-Saw")
		for _, want := range []string{"from=<alice@example.org>", "rcpts=<bob@example.net>,<carol@example.net>",
			"j=mx.sluice.test", "{client_addr}=127.0.0.1", "{daemon_name}=mx", "{mail_addr}=alice@example.org",
			"{rcpt_addr}=carol@example.net", "i=" + id, "_=localhost [127.0.0.1]", "{client_name}=localhost"} {
			if !strings.Contains(saw, want) {
				t.Errorf("milter did not see %q: %s", want, saw)
			}
		}
	})

	refusals := []struct{ subject, want string }{
		{"reject", "550 5.7.1 rejected by allactions"},
		{"tempfail", "451 4.7.1 try later (allactions)"},
		{"plain-reject", "550 5.7.1 Command rejected"},
		{"plain-tempfail", "451 4.7.1 Service unavailable - try again later"},
	}
	for _, tc := range refusals {
		_, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, message("alice@example.org", tc.subject))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: got %v, want %s", tc.subject, err, tc.want)
		}
	}

	t.Run("refused recipient", func(t *testing.T) {
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Hello("client.test")
		if err := c.Mail("alice@example.org", nil); err != nil {
			t.Fatal(err)
		}
		err = c.Rcpt("refuse@example.net", nil)
		if se, ok := err.(*smtp.SMTPError); !ok || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Fatalf("refuse@: %v", err)
		}
		if err := c.Rcpt("dave@example.net", nil); err != nil {
			t.Fatalf("next recipient: %v", err)
		}
		c.Reset()
	})

	n := len(sink.Deliveries())
	for _, subject := range []string{"discard", "quarantine", "accept"} {
		r, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, message("alice@example.org", subject))
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		if subject == "quarantine" {
			id := r[strings.LastIndex(r, " ")+1:]
			if st := queueState(t, admin, id); st != "quarantined" {
				t.Errorf("quarantine: state %q", st)
			}
		}
	}
	got := sink.WaitN(t, n+1, 30*time.Second)
	last := string(got[len(got)-1].Data)
	// SMFIR_ACCEPT: the milter is done with the message, the later
	// stages still run (as Postfix goes on with its next milter).
	if !strings.Contains(last, "\r\nSubject: [after] accept\r\n") {
		t.Errorf("accepted message:\n%s", last)
	}
	time.Sleep(500 * time.Millisecond) // a discarded message must not show up late
	if len(sink.Deliveries()) != n+1 {
		t.Errorf("%d deliveries, want %d (discard and quarantine deliver nothing)", len(sink.Deliveries()), n+1)
	}
	checkPipeline(t, admin, "allactions")
}

func headerValue(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if strings.HasPrefix(l, name+": ") {
			return l[len(name)+2:]
		}
	}
	return ""
}

func queueState(t *testing.T, admin, id string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/api/queue/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m struct {
		State string `json:"state"`
	}
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m.State
}

// checkPipeline: /api/pipeline lists the milter stage, running, without
// errors.
func checkPipeline(t *testing.T, admin, name string) {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/api/pipeline")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	s := string(b)
	if !strings.Contains(s, `"`+name+`"`) || !strings.Contains(s, `"milter"`) {
		t.Fatalf("/api/pipeline: %s", s)
	}
	t.Logf("/api/pipeline: %s", s)
}
