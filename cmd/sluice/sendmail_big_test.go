package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// repeated is n copies of line.
type repeated struct {
	line string
	n    int
	off  int
}

func (r *repeated) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 && r.n > 0 {
		c := copy(p, r.line[r.off:])
		p, total, r.off = p[c:], total+c, r.off+c
		if r.off == len(r.line) {
			r.off, r.n = 0, r.n-1
		}
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// A backup job mails a 32 MiB log: sendmail held the input, a string copy
// of it, its lines, the body built again and the message again (415 MB
// of memory for 40 MiB). The body is now spooled as it is read (to an
// unlinked file in $TMPDIR past 1 MiB) and streamed to the daemon, with
// the quoted-printable a long line calls for: the process grows by less
// than half the message, and leaves no file behind.
func TestSendmailLargeMessageStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	bin := testlib.Build(t, "./cmd/sluice")
	tmp := t.TempDir()
	send := func(stdin io.Reader) int64 { // the process's peak memory, in KiB
		t.Helper()
		cmd := exec.Command(bin, "sendmail", "-i", "bob@remote.test")
		cmd.Env = append(os.Environ(), "SLUICE_SMTP="+sink.Addr, "TMPDIR="+tmp)
		cmd.Stdin = stdin
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("sendmail: %v: %s", err, stderr.String())
		}
		return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	}
	small := send(strings.NewReader("Subject: small\n\nhi\n"))
	const lines = 32 << 20 / 64
	line := strings.Repeat("x", 63) + "\n"
	long := strings.Repeat("é", 1000) // 2000 octets: quoted-printable
	big := send(io.MultiReader(strings.NewReader("Subject: big\n\n"), &repeated{line: line, n: lines}, strings.NewReader(long+"\nend\n")))
	if grew := big - small; grew > 16<<10 {
		t.Errorf("a 32 MiB message took %d KiB more memory than a small one", grew)
	}
	got := sink.WaitN(t, 2, 30*time.Second)[1]
	header, body := sendmailBody(t, got.Data)
	if !strings.Contains(header, "\r\nContent-Transfer-Encoding: quoted-printable\r\n") || !strings.Contains(header, "\r\nContent-Type: text/plain; charset=utf-8\r\n") {
		t.Errorf("header:\n%s", header)
	}
	want := strings.Repeat(strings.TrimSuffix(line, "\n")+"\r\n", lines)
	if len(body) < len(want) || body[:len(want)] != want {
		t.Errorf("the body's %d lines did not arrive as sent", lines)
	}
	if !strings.HasSuffix(body, "=C3=A9\r\nend\r\n") {
		t.Errorf("body ends %q", body[max(0, len(body)-100):])
	}
	if files, _ := os.ReadDir(tmp); len(files) != 0 {
		t.Errorf("left in $TMPDIR: %v", files)
	}
}

// A long line of a body that is not plain text is broken into lines of
// at most 998 octets: a remainder of exactly 998 after the first break
// went out as a line of 999, its leading space added.
func TestSendmailBodyLineBreaks(t *testing.T) {
	for _, n := range []int{999, 997 + 997, 997 + 998, 3000} {
		l := bytes.Repeat([]byte("z"), n)
		out := fitBodyLine(l)
		for i, piece := range strings.Split(string(out), "\r\n") {
			if len(piece) > maxLine {
				t.Errorf("%d octets: line %d has %d", n, i+1, len(piece))
			}
		}
		if joined := strings.ReplaceAll(string(out), "\r\n ", ""); joined != string(l) {
			t.Errorf("%d octets: text changed", n)
		}
	}
}
