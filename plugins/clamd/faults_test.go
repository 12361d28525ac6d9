package clamd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// testMessage has a forged X-Virus-Scanned and a body of several
// INSTREAM chunks.
func testMessage(t *testing.T, bodySize int) (*sdk.Message, []byte) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("From: <alice@example.org>\r\nSubject: report\r\n\tfolded\r\nX-Virus-Scanned: forged\r\n\r\n")
	for b.Len() < bodySize {
		fmt.Fprintf(&b, "line %d of the body\r\n", b.Len())
	}
	raw := b.Bytes()
	m, err := sdktest.ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	return m, raw
}

// configured returns the plugin configured with cfg (JSON), its socket
// the fake's.
func configured(t *testing.T, socket, cfg string) *Plugin {
	t.Helper()
	t.Setenv(EnvHostname, "mx.example.org")
	js := fmt.Sprintf(`{"socket": %q`, socket)
	if cfg != "" {
		js += ", " + cfg
	}
	p := &Plugin{}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "clamav", JSON: []byte(js + "}")}); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestErrorAnswerFails: an ERROR answer (clamd out of memory, a scan
// error) is the stage's failure, for on_error to decide, not a clean
// message. The stream clamd got is the whole message, header as
// received (the folding kept) and a body of several chunks.
func TestErrorAnswerFails(t *testing.T) {
	f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		if _, err := f.readChunks(r, -1); err == nil {
			answer(c, "stream: Can't allocate memory ERROR")
		}
	})
	p := configured(t, f.socket, "")
	m, raw := testMessage(t, 3*chunkSize+100)
	v, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
	if err == nil || !strings.Contains(err.Error(), "Can't allocate memory ERROR") {
		t.Fatalf("Data = %+v, %v; want an error with clamd's answer", v, err)
	}
	cmds, got := f.streams()
	if len(cmds) != 1 || cmds[0] != "zINSTREAM\x00" {
		t.Fatalf("commands %q, want one zINSTREAM", cmds)
	}
	if len(got) != 1 || !bytes.Equal(got[0], raw) {
		t.Fatalf("clamd got %d bytes, want the %d of the message as received", len(got[0]), len(raw))
	}
}

// TestHangTimesOut: a clamd that takes the stream and never answers
// fails the scan once timeout has passed, well before the core's own
// data_timeout would.
func TestHangTimesOut(t *testing.T) {
	release := make(chan struct{})
	f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		_, _ = f.readChunks(r, -1)
		<-release
	})
	// Before the fake's cleanup, which waits for its connections.
	t.Cleanup(func() { close(release) })
	p := configured(t, f.socket, `"timeout": "300ms"`)
	m, _ := testMessage(t, 1000)
	start := time.Now()
	_, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
	if err == nil || !strings.Contains(err.Error(), "no answer in time") {
		t.Fatalf("err = %v, want no answer in time", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("gave up after %v, timeout is 300ms", d)
	}
}

// TestDropMidStream: a connection that ends before clamd answered
// (clamd killed mid-scan) fails the scan.
func TestDropMidStream(t *testing.T) {
	f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		var b [100]byte
		_, _ = r.Read(b[:])
	})
	p := configured(t, f.socket, "")
	m, _ := testMessage(t, 4*chunkSize)
	if _, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m); err == nil {
		t.Fatal("Data succeeded on a connection dropped mid-stream")
	}
}

// TestUnreachableFails: no clamd at the socket fails the scan.
func TestUnreachableFails(t *testing.T) {
	p := configured(t, "unix:"+filepath.Join(t.TempDir(), "none.sock"), "")
	m, _ := testMessage(t, 100)
	_, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
	if err == nil || !strings.Contains(err.Error(), "none.sock") {
		t.Fatalf("err = %v, want one naming the socket", err)
	}
}

// TestSizeLimitAnswerGoesOn: clamd's answer to a stream over its
// StreamMaxLength, sent as soon as the stream passes it, lets the
// message go on with X-Virus-Status saying it was not scanned (as a
// message over max_size): no retry would make it smaller. The forged
// X-Virus-Scanned goes.
func TestSizeLimitAnswerGoesOn(t *testing.T) {
	f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		if over, err := f.readChunks(r, 1000); err == nil && over {
			answer(c, "INSTREAM size limit exceeded. ERROR")
		}
	})
	t.Setenv(EnvHostname, "mx.example.org")
	h := sdktest.New(t, &Plugin{}, fmt.Sprintf(`{"socket": %q}`, f.socket))
	_, raw := testMessage(t, 8*chunkSize)
	v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), raw)
	if v.Action != sdk.ActionContinue || !strings.Contains(v.Reason, "StreamMaxLength") {
		t.Fatalf("verdict %+v, want continue naming StreamMaxLength", v)
	}
	out := string(sdktest.Apply(t, raw, v))
	if !strings.Contains(out, "\r\nX-Virus-Status: Unscanned (") || strings.Contains(out, "X-Virus-Scanned") {
		t.Fatalf("message after the stage:\n%.400s", out)
	}
}

// TestHalfAnswerFails: an answer that ends without its NUL was cut short
// (clamd killed while writing it): it fails the scan, and the start of
// the size-limit answer, cut before its ". ERROR", does not let the
// message go on unscanned.
func TestHalfAnswerFails(t *testing.T) {
	for _, half := range []string{"INSTREAM size limit exceeded", "INSTREAM size limit exc", "stream: Eicar-Test-Signature FOU", "stream: O"} {
		t.Run(half, func(t *testing.T) {
			f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
				// The whole stream read first: the close is then an end
				// of file, not a reset for data left unread.
				if _, err := f.readChunks(r, -1); err == nil {
					_, _ = c.Write([]byte(half))
				}
			})
			p := configured(t, f.socket, "")
			m, _ := testMessage(t, 4*chunkSize)
			v, err := p.Data(context.Background(), sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
			if err == nil || !strings.Contains(err.Error(), "cut short") {
				t.Fatalf("Data = %+v, %v; want an error saying the answer was cut short", v, err)
			}
		})
	}
}

// TestCancelMidStream: when the call's context ends while clamd is not
// reading (the stage's data_timeout shorter than timeout), the plugin
// stops writing at once rather than at its own timeout.
func TestCancelMidStream(t *testing.T) {
	release := make(chan struct{})
	streaming := make(chan struct{}, 1)
	f := startFake(t, func(f *fakeClamd, c net.Conn, r *bufio.Reader) {
		streaming <- struct{}{}
		<-release
	})
	t.Cleanup(func() { close(release) })
	p := configured(t, f.socket, `"timeout": "60s"`)
	m, _ := testMessage(t, 2<<20) // more than the socket buffers hold
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Data(ctx, sdktest.NewTxn("alice@example.org", "bob@example.net"), m)
		done <- err
	}()
	// The command was read: the plugin is writing chunks nobody reads.
	select {
	case <-streaming:
	case <-time.After(10 * time.Second):
		t.Fatal("no INSTREAM command came")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Data succeeded after its context ended")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Data still writing 10s after its context ended (timeout is 60s)")
	}
}
