package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/daemon"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// runBS runs sendmail -bs against addr with stdin, and returns its exit
// code and what it wrote to stdout; it must end within 20 seconds.
func runBS(t *testing.T, addr string, stdin io.Reader) (int, string) {
	t.Helper()
	t.Setenv("SLUICE_SMTP", addr)
	var out, errb bytes.Buffer
	code := make(chan int, 1)
	go func() { code <- cmdSendmail([]string{"-bs"}, stdin, &out, &errb) }()
	select {
	case c := <-code:
		if errb.Len() > 0 {
			t.Errorf("stderr: %s", errb.String())
		}
		return c, out.String()
	case <-time.After(20 * time.Second):
		t.Fatal("sendmail -bs did not end")
		return 0, ""
	}
}

// replyCodes splits what the server sent into replies, each up to its
// line without "-" after the code, and returns their codes and the text
// after the last complete one.
func replyCodes(out string) (codes []string, rest string) {
	for {
		i := strings.Index(out, "\n")
		if i < 0 {
			return codes, out
		}
		line := out[:i+1]
		out = out[i+1:]
		if len(line) < 4 || line[3] != '-' {
			codes = append(codes, line[:min(3, len(line))])
		}
	}
}

// A whole session written at once, as `printf ... | sendmail -bs` does,
// goes through a listener that forbids unauthorised pipelining (the
// default): each command waits for the reply to the one before, the
// multi-line EHLO reply included, the message keeps its dot-stuffing
// (a ".." line is a "." line of text) and is queued and delivered.
// Without the lock-step the listener answers 554 after EHLO.
func TestSendmailBSWholeSessionAtOnce(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	session := "EHLO app.test\r\n" +
		"MAIL FROM:<app@sluice.test>\r\nRCPT TO:<bob@remote.test>\r\nRCPT TO:<carol@remote.test>\r\nDATA\r\n" +
		"Subject: at once\r\n\r\n..stuffed\r\n..\r\n...\r\n.. \r\nlast\r\n.\r\n" +
		"NOOP\r\nQUIT\r\nNOOP\r\n"
	code, out := runBS(t, addr, strings.NewReader(session))
	if code != exOK {
		t.Fatalf("exit %d", code)
	}
	codes, rest := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "250", "354", "250", "250", "221"}; !slices.Equal(codes, want) || rest != "" {
		t.Fatalf("replies %v (then %q), want %v:\n%s", codes, rest, want, out)
	}
	// EHLO's reply is multi-line: MAIL's comes after its last line.
	if !strings.Contains(out, "250-mx.sluice.test Hello app.test\r\n") || !regexp.MustCompile(`(?s)250-PIPELINING\r\n.*250 [^\r]*\r\n250 2\.0\.0 Roger`).MatchString(out) {
		t.Errorf("EHLO's reply not whole before MAIL's:\n%s", out)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	slices.Sort(got.Rcpts)
	if got.From != "app@sluice.test" || !slices.Equal(got.Rcpts, []string{"bob@remote.test", "carol@remote.test"}) {
		t.Fatalf("envelope %s → %v", got.From, got.Rcpts)
	}
	if want := "\r\n\r\n.stuffed\r\n.\r\n..\r\n. \r\nlast\r\n"; !strings.HasSuffix(string(got.Data), want) {
		t.Errorf("delivered body:\n%q\nwant it to end %q", got.Data, want)
	}
}

// A session written with bare LFs throughout, as printf '...\n' in a
// script writes it, is taken as Postfix's -bs takes it: the message's
// lines go on ended by CRLF (the daemon refuses a bare LF in a message),
// a "." line ended by LF ends it, and dot-stuffing is kept.
func TestSendmailBSBareLFMessage(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	session := "HELO app.test\nMAIL FROM:<app@sluice.test>\nRCPT TO:<bob@remote.test>\nDATA\n" +
		"Subject: bare\n\nline one\n..dotted\nline three\r\n.\nQUIT\n"
	code, out := runBS(t, addr, strings.NewReader(session))
	codes, rest := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "354", "250", "221"}; code != exOK || !slices.Equal(codes, want) || rest != "" {
		t.Fatalf("exit %d, replies %v (then %q), want %v:\n%s", code, codes, rest, want, out)
	}
	got := string(sink.WaitN(t, 1, 10*time.Second)[0].Data)
	if !strings.HasSuffix(got, "Subject: bare\r\n\r\nline one\r\n.dotted\r\nline three\r\n") {
		t.Fatalf("delivered %q", got)
	}
}

// The message ends where the daemon ends it, at "." and a line end after
// a line end: after a lone CR, or a dot-CR that is no line end, a "."
// line is text to the daemon (which refuses the bare CR at the end), and
// the relay waits for the real end, not for a reply that never comes.
func TestSendmailBSMessageEndsAsTheDaemonSays(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	session := "HELO app.test\r\nMAIL FROM:<app@sluice.test>\r\nRCPT TO:<bob@remote.test>\r\nDATA\r\n" +
		"Subject: cr\r\n\r\nlone\r.\r\n.\rx\r\n\r\r\n.\r\nQUIT\r\n"
	code, out := runBS(t, addr, strings.NewReader(session))
	codes, rest := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "354", "550", "221"}; code != exOK || !slices.Equal(codes, want) || rest != "" {
		t.Fatalf("exit %d, replies %v (then %q), want %v:\n%s", code, codes, rest, want, out)
	}
	if !strings.Contains(out, "\r\n550 5.5.2 Message contains bare CR or LF") {
		t.Errorf("not the bare CR refusal:\n%s", out)
	}
}

// Commands ended by a bare LF are taken, and HELO's single-line reply is
// waited for too (PIPELINING is not offered after HELO, so every command
// must wait).
func TestSendmailBSHeloBareLF(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	session := "HELO app.test\nMAIL FROM:<app@sluice.test>\nRCPT TO:<dave@remote.test>\nDATA\n" +
		"Subject: bare\r\n\r\nhi\r\n.\r\nQUIT\n"
	code, out := runBS(t, addr, strings.NewReader(session))
	codes, _ := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "354", "250", "221"}; code != exOK || !slices.Equal(codes, want) {
		t.Fatalf("exit %d, replies %v, want %v:\n%s", code, codes, want, out)
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; !slices.Equal(got.Rcpts, []string{"dave@remote.test"}) {
		t.Fatalf("rcpts %v", got.Rcpts)
	}
}

// A script's commands ended by a bare LF reach a listener that refuses
// bare-LF command lines (bare_newline = "reject", loopback not spared)
// ended by CRLF, as Postfix's -bs never refuses them: the session, BDAT's
// line included, goes through and both messages are queued. Before, each
// command got 550 5.5.2 Error: bare <LF> received.
func TestSendmailBSBareLFCommandsReject(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startBSDaemon(t, sink, "bare_newline = \"reject\"\nbare_newline_exclusions = []\n")
	chunk := "Subject: bdat\r\n\r\nchunk\r\n"
	session := "EHLO app.test\nMAIL FROM:<app@sluice.test>\nRCPT TO:<bob@remote.test>\nDATA\n" +
		"Subject: data\n\nline\n.\n" +
		"MAIL FROM:<app@sluice.test>\nRCPT TO:<carol@remote.test>\n" +
		fmt.Sprintf("BDAT %d LAST\n%s", len(chunk), chunk) + "NOOP\nQUIT\n"
	code, out := runBS(t, addr, strings.NewReader(session))
	codes, rest := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "354", "250", "250", "250", "250", "250", "221"}; code != exOK || !slices.Equal(codes, want) || rest != "" {
		t.Fatalf("exit %d, replies %v (then %q), want %v:\n%s", code, codes, rest, want, out)
	}
	if strings.Contains(out, "bare <LF>") {
		t.Fatalf("a command refused for its bare LF:\n%s", out)
	}
	bodies := map[string]string{}
	for _, m := range sink.WaitN(t, 2, 10*time.Second) {
		bodies[strings.Join(m.Rcpts, ",")] = string(m.Data)
	}
	if !strings.HasSuffix(bodies["bob@remote.test"], "\r\nSubject: data\r\n\r\nline\r\n") ||
		!strings.HasSuffix(bodies["carol@remote.test"], "\r\nSubject: bdat\r\n\r\nchunk\r\n") {
		t.Fatalf("delivered %q", bodies)
	}
}

// BDAT's chunk is its announced size in octets, whatever they hold: a
// "." line and commands inside it are message text, and the next command
// is read after it.
func TestSendmailBSBDAT(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	chunk1 := "Subject: chunks\r\n\r\nbefore\r\n.\r\nQUIT\r\nRSET\r\n"
	chunk2 := "after\r\n.\r\n"
	session := "EHLO app.test\r\nMAIL FROM:<app@sluice.test>\r\nRCPT TO:<bob@remote.test>\r\n" +
		fmt.Sprintf("BDAT %d\r\n%sBDAT %d LAST\r\n%s", len(chunk1), chunk1, len(chunk2), chunk2) + "QUIT\r\n"
	code, out := runBS(t, addr, strings.NewReader(session))
	codes, _ := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "250", "250", "221"}; code != exOK || !slices.Equal(codes, want) {
		t.Fatalf("exit %d, replies %v, want %v:\n%s", code, codes, want, out)
	}
	if !strings.Contains(out, "250 2.0.0 Ok: queued as ") {
		t.Errorf("no queued reply:\n%s", out)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if want := "\r\n\r\nbefore\r\n.\r\nQUIT\r\nRSET\r\nafter\r\n.\r\n"; !strings.HasSuffix(string(got.Data), want) {
		t.Errorf("delivered:\n%q\nwant it to end %q", got.Data, want)
	}
}

// When the server closes mid-session, -bs ends with its last reply, exit
// 0 as before, though stdin stays open and is waited on.
func TestSendmailBSServerCloses(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	inR, inW := io.Pipe()
	t.Cleanup(func() { _ = inW.Close() })
	go func() { _, _ = io.WriteString(inW, "EHLO app.test\r\nBDAT many\r\n") }()
	code, out := runBS(t, addr, inR)
	if code != exOK || !strings.HasSuffix(out, "\r\n501 5.5.4 Malformed size argument, closing connection\r\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}

// stdin ending without QUIT: what came is answered, then the session is
// half-closed and the server hangs up; the message sent is queued, and
// an unfinished last line gets no reply.
func TestSendmailBSStdinEndsWithoutQuit(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	session := "EHLO app.test\r\nMAIL FROM:<app@sluice.test>\r\nRCPT TO:<bob@remote.test>\r\nDATA\r\nSubject: no quit\r\n\r\nhi\r\n.\r\nNOOP"
	code, out := runBS(t, addr, strings.NewReader(session))
	codes, rest := replyCodes(out)
	if want := []string{"220", "250", "250", "250", "354", "250"}; code != exOK || !slices.Equal(codes, want) || rest != "" {
		t.Fatalf("exit %d, replies %v (then %q), want %v:\n%s", code, codes, rest, want, out)
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; !strings.Contains(string(got.Data), "Subject: no quit") {
		t.Fatalf("delivered:\n%s", got.Data)
	}

	// Ended in the middle of a message: nothing is queued.
	// The daemon says so (421 4.4.0).
	code, out = runBS(t, addr, strings.NewReader("HELO app.test\r\nMAIL FROM:<app@sluice.test>\r\nRCPT TO:<bob@remote.test>\r\nDATA\r\nSubject: cut\r\n\r\nhalf"))
	if codes, _ := replyCodes(out); code != exOK || !slices.Equal(codes, []string{"220", "250", "250", "250", "354", "421"}) {
		t.Fatalf("exit %d, replies %v:\n%s", code, codes, out)
	}
	if n := len(sink.Deliveries()); n != 1 {
		t.Errorf("%d deliveries, want only the first", n)
	}
}

// filler is n octets of 'x', made as they are read.
type filler struct{ n int64 }

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.n)]
	for i := range p {
		p[i] = 'x'
	}
	f.n -= int64(len(p))
	return len(p), nil
}

// A 10 MB command line is passed on as it is read, not held: the daemon
// refuses it over its max_line_length and closes, and -bs ends with that
// reply.
func TestSendmailBSLongLine(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	const size = 10 << 20
	stdin := io.MultiReader(strings.NewReader("EHLO app.test\r\nNOOP "), &filler{size}, strings.NewReader("\r\nQUIT\r\n"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, out := runBS(t, addr, stdin)
	runtime.ReadMemStats(&after)
	if code != exOK || !strings.HasSuffix(out, "\r\n500 5.5.2 Too long line, closing connection\r\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	t.Logf("%d bytes allocated", after.TotalAlloc-before.TotalAlloc)
	if n := after.TotalAlloc - before.TotalAlloc; n > size/4 {
		t.Errorf("%d bytes allocated for a %d-byte line", n, size)
	}
}

// STARTTLS: after its 220 the bytes are TLS records, relayed as they
// come both ways, so a client that starts TLS over the pipe (it could
// before) still sends its message.
func TestSendmailBSStartTLS(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	addr := startBSDaemon(t, sink, fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", certFile, keyFile))
	t.Setenv("SLUICE_SMTP", addr)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- cmdSendmail([]string{"-bs"}, inR, outW, io.Discard)
		_ = outW.Close()
	}()
	// The client has no deadlines on pipes: a relay that stopped would
	// hang it, so it runs apart and the pipes are closed at the bound.
	sent := make(chan error, 1)
	go func() {
		c, err := smtp.NewClientStartTLS(&pipeConn{r: outR, w: inW}, &tls.Config{ServerName: "mx.sluice.test", RootCAs: ca.Pool()})
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		if _, ok := c.TLSConnectionState(); !ok {
			sent <- fmt.Errorf("no TLS")
			return
		}
		// Transact ends with QUIT, after which the server closes.
		_, err = testlib.Transact(c, "app@sluice.test", []string{"bob@remote.test"}, testlib.Message("app@sluice.test", "bob@remote.test", "over tls", "hi"))
		sent <- err
	}()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		_ = inW.Close()
		_ = outR.Close()
		t.Fatal("the session over TLS did not end")
	}
	select {
	case n := <-code:
		if n != exOK {
			t.Fatalf("exit %d", n)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("sendmail -bs did not end")
	}
	if got := sink.WaitN(t, 1, 10*time.Second)[0]; !strings.Contains(string(got.Data), "Subject: over tls") || !strings.Contains(string(got.Data), "TLS") {
		t.Fatalf("delivered:\n%s", got.Data)
	}
}

// pipeConn is a client's end of sendmail -bs's stdin and stdout.
type pipeConn struct {
	r *io.PipeReader
	w *io.PipeWriter
}

func (p *pipeConn) Read(b []byte) (int, error)       { return p.r.Read(b) }
func (p *pipeConn) Write(b []byte) (int, error)      { return p.w.Write(b) }
func (p *pipeConn) Close() error                     { _ = p.w.Close(); return p.r.Close() }
func (p *pipeConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "stdin", Net: "unix"} }
func (p *pipeConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "stdout", Net: "unix"} }
func (p *pipeConn) SetDeadline(time.Time) error      { return nil }
func (p *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (p *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// startBSDaemon is startSinkDaemon with more keys for its listener.
func startBSDaemon(t *testing.T, sink *testlib.Sink, listener string) string {
	t.Helper()
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s[delivery]
relay = %q
`, filepath.Join(t.TempDir(), "data"), listener, sink.Addr)
	c, err := config.Parse("sendmail-bs-test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(daemon.Options{Config: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d.SMTPAddrs()["mx"].String()
}
