package daemon

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// connTap relays connections to target and keeps what each client wrote,
// a buffer per connection.
type connTap struct {
	addr  string
	mu    sync.Mutex
	wires []*bytes.Buffer
	conns []net.Conn
}

func newConnTap(t *testing.T, target string) *connTap {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &connTap{addr: ln.Addr().String()}
	t.Cleanup(func() {
		_ = ln.Close()
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, c := range w.conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			buf := &lockedWriter{mu: &w.mu, b: new(bytes.Buffer)}
			w.mu.Lock()
			w.conns = append(w.conns, c, s)
			w.wires = append(w.wires, buf.b)
			w.mu.Unlock()
			go func() { _, _ = io.Copy(c, s) }()
			// Kept before it is passed on: once the sink has a
			// message, its bytes are here.
			go func() { _, _ = io.Copy(io.MultiWriter(buf, s), c) }()
		}
	}()
	return w
}

// String is what the clients wrote, connection after connection.
func (w *connTap) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var all strings.Builder
	for _, b := range w.wires {
		all.Write(b.Bytes())
	}
	return all.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// dataSections returns the text of every DATA each client wrote, read
// as RFC 5321 has it: after the DATA command line, up to the first
// <CRLF>.<CRLF> (or a "." line first), dot-stuffing and end marker kept
// but for the end marker.
func (w *connTap) dataSections(t *testing.T) []string {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, b := range w.wires {
		s := b.String()
		for s != "" {
			line, rest, ok := strings.Cut(s, "\r\n")
			if !ok {
				break // a command still being written (QUIT)
			}
			s = rest
			if line != "DATA" {
				continue
			}
			var data string
			if strings.HasPrefix(s, ".\r\n") {
				data, s = "", s[3:]
			} else if i := strings.Index(s, "\r\n.\r\n"); i >= 0 {
				data, s = s[:i+2], s[i+5:]
			} else {
				t.Fatalf("DATA without its end on the wire: %q", s)
			}
			out = append(out, data)
		}
	}
	return out
}

// wireSafe fails unless data, the text of one DATA on the wire, reads the
// same to every next hop, whatever it takes for a line end: no CR or LF
// but in CRLF pairs, and every line that begins with a dot stuffed (RFC
// 5321 §4.5.2), so that no "." line, the end marker of a lenient reader,
// is there.
func wireSafe(t *testing.T, data string) {
	t.Helper()
	if strings.Count(data, "\n") != strings.Count(data, "\r\n") || strings.Count(data, "\r") != strings.Count(data, "\r\n") {
		t.Errorf("a bare CR or LF on the wire:\n%q", data)
	}
	for _, l := range strings.Split(data, "\r\n") {
		if strings.HasPrefix(l, ".") && !strings.HasPrefix(l, "..") {
			t.Errorf("line %q not dot-stuffed on the wire:\n%q", l, data)
		}
	}
}

// unstuff undoes dot-stuffing on a DATA text with CRLF lines.
func unstuff(data string) string {
	lines := strings.SplitAfter(data, "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, ".")
	}
	return strings.Join(lines, "")
}

// normalizedBody is the model of barenewline_adversarial_test.go in
// core/smtpd, for a body the caller ends with <CRLF>.<CRLF>: each line
// ended by LF, CRLF or bare, stored with CRLF, a leading dot removed but
// from a lone dot, the data ending at the first "." line between CRLFs.
func normalizedBody(raw string) (stored string, whole bool) {
	var b strings.Builder
	prevCRLF := true
	for raw != "" {
		i := strings.IndexByte(raw, '\n')
		if i < 0 {
			return "", false
		}
		line, crlf := raw[:i], strings.HasSuffix(raw[:i], "\r")
		line = strings.TrimSuffix(line, "\r")
		raw = raw[i+1:]
		if line == "." && crlf && prevCRLF {
			return b.String(), raw == ""
		}
		if line != "." {
			line = strings.TrimPrefix(line, ".")
		}
		b.WriteString(line + "\r\n")
		prevCRLF = crlf
	}
	return "", false
}

// SMTP smuggling through Sluice, end to end, under bare_newline =
// "normalize": messages made of bare LFs, CRLFs, dots and smuggled
// commands, crafted and random, go in over one raw connection and out to
// a go-smtp sink through a tap that keeps the wire. Each is one delivery,
// to its one recipient; each DATA on the wire has only CRLF line ends
// and every line beginning with a dot stuffed, so that a next hop that
// takes a bare LF or CR for a line end reads the same message; the wire
// unstuffed is what the sink got, and that ends with the message as
// normalized.
func TestBareLFSmugglingOnTheWire(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tap := newConnTap(t, sink.Addr)
	d := startDaemon(t, fmt.Sprintf("[delivery]\nrelay = %q\n", tap.addr))
	const smuggled = "MAIL FROM:<ceo@sluice.test>\r\nRCPT TO:<victim@remote.test>\r\nDATA\r\nFrom: ceo@sluice.test\r\n\r\nsmuggled\r\n"
	bodies := []string{
		"a\n.\n" + smuggled,
		"a\n.\r\n" + smuggled,
		"a\r\n.\n" + smuggled,
		"a\n..\n" + smuggled,
		"a\n..\r\n" + smuggled,
		"a\n.\n.\n" + smuggled,
		".\n" + smuggled,
		"..\n" + smuggled,
		"last\n\r\n",
		"caf\xc3\xa9\n.\n\xff\n..x\r\n",
	}
	pieces := []string{"x", "\xc3\xa9", ".", "..", "\n", "\r\n", "\n.\n", "\n.\r\n", "\r\n.\n", "\n..\n", "\r\n..\r\n", "\n.x", "\r\n.x", ".\n", smuggled}
	r := rand.New(rand.NewPCG(5, 21))
	for len(bodies) < 60 {
		var b strings.Builder
		for n := r.IntN(20); n >= 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		if _, whole := normalizedBody("x\r\n" + b.String() + "\r\n.\r\n"); whole {
			bodies = append(bodies, b.String()+"\r\n")
		}
	}
	rc := dialRaw(t, d)
	rc.must("EHLO client.test", "250")
	want := map[string]string{} // Subject: the message as normalized
	for i, body := range bodies {
		msg := fmt.Sprintf("Subject: m%d\r\n\r\n%s", i, body)
		stored, whole := normalizedBody(msg + ".\r\n")
		if !whole {
			t.Fatalf("%q ends early", msg)
		}
		want[fmt.Sprintf("m%d", i)] = stored
		rc.must("MAIL FROM:<alice@sluice.test>", "250")
		rc.must("RCPT TO:<bob@remote.test>", "250")
		rc.must("DATA", "354")
		rc.write(msg + ".\r\n")
		if rep := rc.reply(); !strings.HasPrefix(rep, "250") {
			t.Fatalf("%q: %q, want 250", msg, rep)
		}
	}
	// BDAT (RFC 3030): no dot-stuffing to undo, the end of data in a
	// chunk is text, and a chunk may end between a bare LF and a dot.
	for i, chunks := range [][]string{
		{"a\n", ".\r\n" + smuggled},
		{"a\r\n.\r\n", smuggled},
		{"..\n.\n", "." + smuggled},
	} {
		subj := fmt.Sprintf("b%d", i)
		msg := "Subject: " + subj + "\r\n\r\n"
		rc.must("MAIL FROM:<alice@sluice.test>", "250")
		rc.must("RCPT TO:<bob@remote.test>", "250")
		for j, c := range chunks {
			if j == 0 {
				c = msg + c
			}
			last := ""
			if j == len(chunks)-1 {
				last = " LAST"
			}
			rc.write(fmt.Sprintf("BDAT %d%s\r\n%s", len(c), last, c))
			if r := rc.reply(); !strings.HasPrefix(r, "250") {
				t.Fatalf("BDAT %q: %q, want 250", c, r)
			}
		}
		crlf := strings.ReplaceAll(strings.ReplaceAll(msg+strings.Join(chunks, ""), "\r\n", "\n"), "\n", "\r\n")
		want[subj] = crlf
		bodies = append(bodies, crlf)
	}
	rc.must("NOOP", "250")

	got := sink.WaitN(t, len(bodies), 30*time.Second)
	for _, g := range got {
		if strings.Join(g.Rcpts, ",") != "bob@remote.test" || g.From != "alice@sluice.test" {
			t.Errorf("a delivery from %s to %v", g.From, g.Rcpts)
		}
		_, after, _ := bytes.Cut(g.Data, []byte("\r\nSubject: "))
		subj, _, _ := bytes.Cut(after, []byte("\r\n"))
		w, ok := want[string(subj)]
		if !ok || !bytes.HasSuffix(g.Data, []byte(w)) {
			t.Errorf("delivered %q\nwant it to end %q", g.Data, w)
		}
		delete(want, string(subj))
	}
	if len(want) != 0 {
		t.Errorf("not delivered: %v", want)
	}
	wires := tap.dataSections(t)
	if len(wires) != len(got) {
		t.Fatalf("%d DATA on the wire, %d deliveries", len(wires), len(got))
	}
	byData := map[string]bool{}
	for _, g := range got {
		byData[string(g.Data)] = true
	}
	for _, w := range wires {
		wireSafe(t, w)
		if !byData[unstuff(w)] {
			t.Errorf("the wire %q, unstuffed, is no delivery", w)
		}
	}
	if n := len(sink.Deliveries()); n != len(bodies) {
		t.Errorf("%d deliveries, want %d", n, len(bodies))
	}
}

// DKIM signing comes after normalization: the dkim-sign stage signs the
// message as stored, CRLF throughout, and delivery sends those bytes, so
// the signature of a message written with bare LFs (dot lines after them
// included) verifies at the next hop, on what the sink got and on the
// wire unstuffed alike.
func TestBareLFSignedAsStored(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	keyFile, keyRecord := signingKey(t, dir, "sluice.test")
	dns := testlib.NewDNS(t, keyRecord)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	tap := newConnTap(t, sink.Addr)
	d := site{DataDir: filepath.Join(dir, "data"), DNS: dns.Addr, Relay: tap.addr, RelayNetworks: true, SignKey: keyFile}.start(t, self)
	rc := dialRaw(t, d)
	rc.envelope("alice@sluice.test", "bob@remote.test")
	const msg = "From: alice@sluice.test\nTo: bob@remote.test\nSubject: from cron\n\nline one\n.\n..x\n.y\r\n\n.\r\nlast\n\r\n"
	rc.must("DATA", "354")
	rc.write(msg + ".\r\n")
	if r := rc.reply(); !strings.HasPrefix(r, "250") {
		t.Fatalf("%q, want 250", r)
	}
	got := string(sink.WaitN(t, 1, 20*time.Second)[0].Data)
	if !strings.HasSuffix(got, "\r\n\r\nline one\r\n.\r\n.x\r\ny\r\n\r\n.\r\nlast\r\n\r\n") {
		t.Fatalf("delivered %q", got)
	}
	if err := sluiceSigned(t, dns.Addr, got); err != nil {
		t.Errorf("delivered: %v\n%q", err, got)
	}
	wires := tap.dataSections(t)
	if len(wires) != 1 {
		t.Fatalf("%d DATA on the wire", len(wires))
	}
	wireSafe(t, wires[0])
	if err := sluiceSigned(t, dns.Addr, unstuff(wires[0])); err != nil {
		t.Errorf("the wire: %v", err)
	}
}
