package main

import (
	"bytes"
	"crypto/sha256"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// queueCat runs sluice queue cat with args and returns its exit code,
// stdout and stderr.
func queueCat(args ...string) (int, []byte, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"queue", "cat"}, args...), nil, &out, &errb)
	return code, out.Bytes(), errb.String()
}

// TestQueueCatDaemon runs `sluice serve`, queues a message its next hop
// defers, and prints it with queue cat: as stored (Sluice's Received
// field first, CRLF), its header section and its body split at the first
// empty line, held as well as active; then the next hop takes it, and what
// it got is what queue cat printed. Once delivered, it is an unknown ID.
func TestQueueCatDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	sink := testlib.NewSink(t, "127.0.0.1:0")
	var mu sync.Mutex
	accepting := false
	sink.OnData(func(int) error {
		mu.Lock()
		defer mu.Unlock()
		if !accepting {
			return testlib.Temp
		}
		return nil
	})
	smtpAddr, adminAddr := freeAddr(t), freeAddr(t)
	cfg := writeConfig(t, dir, smtpAddr, adminAddr, sink.Addr)
	p := startServe(t, cfg)

	sent := "From: <a@sluice.test>\r\nTo: <b@remote.test>\r\nSubject: cat\r\n\r\nfirst paragraph\r\n\r\nsecond paragraph\r\n"
	reply, err := testlib.Send(smtpAddr, "a@sluice.test", []string{"b@remote.test"}, []byte(sent))
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndex(reply, "queued as ")
	if i < 0 {
		t.Fatalf("reply %q", reply)
	}
	id := strings.Fields(reply[i+len("queued as "):])[0]

	code, whole, stderr := queueCat(id, "-c", cfg)
	if code != exitOK || !bytes.HasPrefix(whole, []byte("Received: from client.test (")) || !bytes.HasSuffix(whole, []byte(sent)) ||
		!bytes.Contains(whole, []byte("id "+id)) {
		t.Fatalf("queue cat: exit %d %q\nstdout:\n%s", code, stderr, whole)
	}
	code, hdr, _ := queueCat(id, "--headers", "--admin", adminAddr)
	if code != exitOK || !bytes.HasSuffix(hdr, []byte("Subject: cat\r\n")) {
		t.Fatalf("--headers: exit %d %q", code, hdr)
	}
	code, body, _ := queueCat("--body", id, "--admin", adminAddr)
	if code != exitOK || string(body) != "first paragraph\r\n\r\nsecond paragraph\r\n" {
		t.Fatalf("--body: exit %d %q", code, body)
	}
	if string(hdr)+"\r\n"+string(body) != string(whole) {
		t.Fatalf("header section, empty line and body are not the message:\n%q\n%q\n%q", hdr, body, whole)
	}

	if out := runCLI(t, "queue", "hold", id, "--admin", adminAddr); out != id+": hold ok\n" {
		t.Fatalf("hold: %q", out)
	}
	if code, held, _ := queueCat(id, "--admin", adminAddr); code != exitOK || !bytes.Equal(held, whole) {
		t.Fatalf("held: exit %d %q", code, held)
	}

	mu.Lock()
	accepting = true
	mu.Unlock()
	runCLI(t, "queue", "release", id, "--admin", adminAddr)
	got := sink.WaitN(t, 1, 20*time.Second)
	if !bytes.Equal(got[0].Data, whole) {
		t.Fatalf("delivered:\n%q\nqueue cat printed:\n%q", got[0].Data, whole)
	}
	p.waitLine(t, "status=sent") // logged once recorded: the message is gone
	wantUserError(t, []string{"queue", "cat", id, "--admin", adminAddr}, id, "no such message")
}

// A 50 MiB message is printed byte for byte, as it arrives (the bound on
// JSON answers does not apply: see core/admin's TestQueuedMessageLarge);
// its header section stops at the first empty line, after a header line
// longer than the split's read buffer.
func TestQueueCatLarge(t *testing.T) {
	url, _, q, _ := adminServer(t, 0)
	text := make([]byte, 0, 50<<20+64)
	text = append(text, "Subject: big\r\nX-Long: "+strings.Repeat("h", 100<<10)+"\r\n\r\n"...)
	for i := 0; len(text) < 50<<20; i++ {
		text = append(text, "line "...)
		text = strconv.AppendInt(text, int64(i), 10)
		text = append(text, " of a long message\r\n"...)
	}
	id := enqueue(t, q, text)
	hdrEnd := bytes.Index(text, []byte("\r\n\r\n")) + 2
	for _, tc := range []struct {
		flag string
		want []byte
	}{{"", text}, {"--headers", text[:hdrEnd]}, {"--body", text[hdrEnd+2:]}} {
		// Hashed as printed: a buffer of it all would cost the test more
		// than the command.
		h := sha256.New()
		var n countWriter
		var errb bytes.Buffer
		args := []string{"queue", "cat", id, "--admin", url}
		if tc.flag != "" {
			args = append(args, tc.flag)
		}
		code := run(args, nil, io.MultiWriter(h, &n), &errb)
		if want := sha256.Sum256(tc.want); code != exitOK || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("cat %s: exit %d %q, %d bytes of %d, or not the same", tc.flag, code, errb.String(), n, len(tc.want))
		}
	}
}

// countWriter counts the bytes written to it.
type countWriter int

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// enqueue queues text as a message's body and returns its ID.
func enqueue(t *testing.T, q *queue.Store, text []byte) string {
	t.Helper()
	m := &envelope.Message{ID: q.NewID(), From: "a@example.org", Received: time.Now(),
		Rcpts: []envelope.Recipient{{Addr: "b@example.net", Status: envelope.RcptPending}}}
	if err := q.Enqueue(m, text); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

// The split takes LF line ends too, a header line longer than the read
// buffer (whose CRLF, read on its own, is no empty line), and a message
// without the empty line (all header section).
func TestQueueCatSplit(t *testing.T) {
	long := "X-Long: " + strings.Repeat("y", 3*catBuffer-len("X-Long: ")) + "\r\n"
	for _, tc := range []struct{ text, headers, body string }{
		{"A: 1\r\n\r\nb\r\n\r\nc\r\n", "A: 1\r\n", "b\r\n\r\nc\r\n"},
		{"A: 1\n\nb\n\nc\n", "A: 1\n", "b\n\nc\n"},
		{long + "\r\nbody\r\n", long, "body\r\n"},
		{"A: 1\r\nB: 2\r\n", "A: 1\r\nB: 2\r\n", ""},
		{"A: 1\r\n\r\n", "A: 1\r\n", ""},
		{"\r\nbody only\r\n", "", "body only\r\n"},
	} {
		for part, want := range map[catPart]string{catHeaders: tc.headers, catBody: tc.body} {
			var out bytes.Buffer
			if err := copyPart(&out, strings.NewReader(tc.text), part); err != nil || out.String() != want {
				t.Errorf("%.40q part %d: %.40q %v, want %.40q", tc.text, part, out.String(), err, want)
			}
		}
	}
}

// What queue cat cannot do is refused before the daemon is asked; an
// unknown ID is one line naming it (exit 1), no daemon exit 2.
func TestQueueCatErrors(t *testing.T) {
	url, ids, _, requests := adminServer(t, 1)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"queue", "cat"}, "exactly one message ID"},
		{[]string{"queue", "cat", ids[0], ids[0]}, "exactly one message ID"},
		{[]string{"queue", "cat", "../pipeline"}, "not a message ID"},
		{[]string{"queue", "cat", ids[0], "--headers", "--body"}, "not both"},
		{[]string{"queue", "cat", ids[0], "--json"}, "--json"},
		{[]string{"queue", "show", ids[0], "--headers"}, "--headers and --body are for queue cat"},
		{[]string{"queue", "list", "--body"}, "--headers and --body are for queue cat"},
	} {
		wantUserError(t, append(tc.args, "--admin", url), tc.want)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("%d requests made for refused command lines", n)
	}
	wantUserError(t, []string{"queue", "cat", "0123456789ABCDEFGHJK", "--admin", url}, "0123456789ABCDEFGHJK", "no such message")
	if code, out, _ := queueCat(ids[0], "--admin", url); code != exitOK || string(out) != "x" {
		t.Fatalf("cat: exit %d %q", code, out)
	}
	if code, _, stderr := queueCat(ids[0], "--admin", "127.0.0.1:1"); code != exitUnreachable || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("no daemon: exit %d %q", code, stderr)
	}
	if help := runCLI(t, "queue", "cat", "-h"); !strings.Contains(help, "cat: [--headers | --body]") || !strings.Contains(help, "-headers") {
		t.Fatalf("queue cat -h:\n%s", help)
	}
}
