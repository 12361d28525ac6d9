//go:build interop

package interop

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Debian's clamd (scripts/install-deps.sh clamav) behind the first-party
// clamd stage. The test runs its own clamd in the foreground, as the
// current user, on a unix socket in its temp dir, with a database
// directory holding one signature of its own: the EICAR test file's MD5
// (ClamAV's .hdb format, md5:size:name). No freshclam, nothing fetched:
// clamd starts in about a second with that one signature, where the
// official databases take tens of seconds and a gigabyte.

// eicar is the EICAR anti-virus test file, 68 bytes.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// startClamd runs clamd with the EICAR signature and returns its socket.
func startClamd(t *testing.T) (socket string, d *peerDaemon) {
	t.Helper()
	bin := need(t, "clamd")
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte(eicar))
	// Signatures from a database clamd cannot verify are reported with
	// ".UNOFFICIAL" after the name.
	hdb := fmt.Sprintf("%s:%d:Eicar-Test-Signature\n", hex.EncodeToString(sum[:]), len(eicar))
	if err := os.WriteFile(filepath.Join(db, "sluice-test.hdb"), []byte(hdb), 0o644); err != nil {
		t.Fatal(err)
	}
	socket = filepath.Join(dir, "clamd.sock")
	conf := filepath.Join(dir, "clamd.conf")
	// No User: clamd stays the user that started it, who owns the temp
	// dir; the socket is that user's alone, as Sluice runs as it too.
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`Foreground yes
LocalSocket %s
LocalSocketMode 600
DatabaseDirectory %s
PidFile %s
TemporaryDirectory %s
`, socket, db, filepath.Join(dir, "clamd.pid"), dir)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "clamd.out")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = f, f
	// As startPeerDaemon: a group of its own, and SIGTERM if the test
	// binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d = &peerDaemon{name: "clamd", logFile: out, cmd: cmd, done: make(chan struct{}), stopWait: 10 * time.Second}
	go func() { _ = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() || testing.Verbose() {
			t.Logf("clamd output:\n%s", d.log())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return socket, d
		}
		select {
		case <-d.done:
			t.Fatalf("clamd exited before listening on %s:\n%s", socket, d.log())
		case <-time.After(50 * time.Millisecond): // polling the socket, bounded
		}
		if time.Now().After(deadline) {
			t.Fatalf("clamd not listening on %s after 60s:\n%s", socket, d.log())
		}
	}
}

// TestClamd: the clamd stage as the README writes it, against a real
// clamd: a clean message reaches the sink with X-Virus-Scanned; one with
// the EICAR file as a base64 attachment (clamd decodes the MIME part) is
// refused naming the signature; with clamd stopped the stage fails and
// its default on_error answers 451.
func TestClamd(t *testing.T) {
	socket, clamd := startClamd(t)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	stage := fmt.Sprintf("[[stage]]\nname = \"clamav\"\nplugin = \"clamd\"\ndata_timeout = \"60s\"\n[stage.config]\nsocket = \"unix:%s\"\ntimeout = \"30s\"\n", socket)
	addr, _ := startSluiceWith(t, sink.Addr, stage)
	virus := "From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: the file\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nsee the attachment\r\n" +
		"--b1\r\nContent-Type: application/octet-stream; name=\"eicar.com\"\r\n" +
		"Content-Disposition: attachment; filename=\"eicar.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString([]byte(eicar)) + "\r\n--b1--\r\n"

	t.Run("clean message passes", func(t *testing.T) {
		if _, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"},
			message("alice@example.org", "minutes", "X-Virus-Scanned: forged")); err != nil {
			t.Fatal(err)
		}
		data := string(sink.WaitN(t, 1, 30*time.Second)[0].Data)
		if !strings.Contains(data, "\r\nX-Virus-Scanned: ClamAV on mx.sluice.test\r\n\r\nHello,") ||
			strings.Contains(data, "forged") {
			t.Fatalf("want the stage's X-Virus-Scanned alone, last:\n%s", data)
		}
	})

	t.Run("EICAR refused", func(t *testing.T) {
		_, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, []byte(virus))
		if want := "550 5.7.1 message contains a virus: Eicar-Test-Signature.UNOFFICIAL"; err == nil || err.Error() != want {
			t.Fatalf("got %v, want %s", err, want)
		}
		if n := len(sink.Deliveries()); n != 1 {
			t.Fatalf("%d deliveries, want the clean message's only", n)
		}
	})

	t.Run("EICAR tagged", func(t *testing.T) {
		// action = "tag" lets it in with X-Virus-Found, and the trace's
		// reason names the signature.
		tagSink := testlib.NewSink(t, "127.0.0.1:0")
		tagAddr, tagAdmin := startSluiceWith(t, tagSink.Addr, stage+"action = \"tag\"\n")
		r, err := testlib.Send(tagAddr, "alice@example.org", []string{"bob@example.net"}, []byte(virus))
		if err != nil {
			t.Fatal(err)
		}
		data := string(tagSink.WaitN(t, 1, 30*time.Second)[0].Data)
		if !strings.Contains(data, "\r\nX-Virus-Scanned: ClamAV on mx.sluice.test\r\nX-Virus-Found: Eicar-Test-Signature.UNOFFICIAL\r\n\r\n--b1") {
			t.Fatalf("want X-Virus-Found naming the signature:\n%s", data)
		}
		id := r[strings.LastIndex(r, " ")+1:]
		if tr := traceOf(t, tagAdmin, id); !strings.Contains(tr, `"reason":"virus found: Eicar-Test-Signature.UNOFFICIAL"`) {
			t.Errorf("trace does not name the virus: %s", tr)
		}
	})

	t.Run("clamd stopped", func(t *testing.T) {
		clamd.stop()
		_, err := testlib.Send(addr, "alice@example.org", []string{"bob@example.net"}, message("alice@example.org", "later"))
		if err == nil || !strings.HasPrefix(err.Error(), "451 4.3.0 ") {
			t.Fatalf("got %v, want 451 4.3.0 (on_error tempfail)", err)
		}
	})
}
