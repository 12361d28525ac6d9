package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// provokeTLSWait is provokeWait over STARTTLS: 11 errors, the last
// one's reply held in the tarpit's wait; it returns the dialog and the
// client's TLS connection.
func provokeTLSWait(t *testing.T, h *harness, w *tarpitWaits, clientTLS *tls.Config) (*dialog, *tls.Conn) {
	t.Helper()
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := 1; i <= 10; i++ {
		relayDenied(d, i)
	}
	d.send("RCPT TO:<guess11@elsewhere.example>")
	select {
	case <-w.entered:
	case <-time.After(waitBound):
		t.Fatal("the 11th error did not wait")
	}
	return d, d.c.(*tls.Conn)
}

// Under TLS a client's hang-up ends the tarpit's wait too, though its
// close_notify alert comes before its FIN, and the socket the wait
// watches is never empty then: closed whole (close_notify, then the
// TCP close), or only its sending side (close_notify and a FIN) while
// it still reads, after which the session closes unanswered, as in the
// clear (TestErrorTarpitEndsAtHangup). On an implicit-TLS listener too.
func TestErrorTarpitEndsAtTLSHangup(t *testing.T) {
	w := newTarpitWaits(true)
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withTarpit(w))
	_, tc := provokeTLSWait(t, h, w, clientTLS)
	_ = tc.Close()
	waitEnded(t, w, "the TLS client's close")

	d, tc := provokeTLSWait(t, h, w, clientTLS)
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := tc.NetConn().(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, w, "the TLS client's half-close")
	d.expectClosed()
	if got := w.asked(); len(got) != 2 {
		t.Errorf("waits %v, want the two the hang-ups ended", got)
	}
}

// The same on an implicit-TLS listener, its errors unknown commands.
func TestErrorTarpitEndsAtImplicitTLSHangup(t *testing.T) {
	w := newTarpitWaits(true)
	sub, clientTLS := withSubmission(t, config.KindSubmissions)
	h := start(t, sub, withTarpit(w))
	tc, err := tls.Dial("tcp", h.addr("sub"), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	d := newDialog(t, tc)
	d.expect("220 mx.test ESMTP")
	d.ehlo()
	for range 10 {
		d.cmd("XFOO", "500 5.5.2 Syntax errors, XFOO command unrecognized")
	}
	d.send("XFOO")
	select {
	case <-w.entered:
	case <-time.After(waitBound):
		t.Fatal("the 11th error did not wait")
	}
	_ = tc.Close()
	waitEnded(t, w, "the TLS client's close")
}

// heldWaits stands for the server's Sleep: each wait is held until the
// test releases it or its context ends, which ended reports (nil for a
// release).
type heldWaits struct {
	entered, release chan struct{}
	ended            chan error
}

func (w *heldWaits) sleep(ctx context.Context, _ time.Duration) {
	w.entered <- struct{}{}
	select {
	case <-ctx.Done():
		w.ended <- ctx.Err()
	case <-w.release:
		w.ended <- nil
	case <-time.After(waitBound):
		w.ended <- errors.New("the wait was not ended")
	}
}

// Watching for a hang-up under TLS reads nothing: the commands a client
// sends while its reply is held, in TLS records of their own, neither
// end the wait nor go missing; each is answered after its own wait.
func TestErrorTarpitTLSKeepsWhatComesDuringTheWait(t *testing.T) {
	w := &heldWaits{entered: make(chan struct{}, 1), release: make(chan struct{}), ended: make(chan error, 1)}
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt, withTarpit(&tarpitWaits{}), func(o *Options) { o.Sleep = w.sleep })
	d := h.dialTLS("mx", clientTLS)
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	for i := 1; i <= 10; i++ {
		relayDenied(d, i)
	}
	d.send("RCPT TO:<guess11@elsewhere.example>")
	<-w.entered
	d.send("RCPT TO:<guess12@elsewhere.example>")
	d.send("RCPT TO:<r@example.org>")
	for i := range 3 {
		if i > 0 {
			<-w.entered
		}
		w.release <- struct{}{}
		if err := <-w.ended; err != nil {
			t.Fatalf("wait %d ended by %v, not its release", i+1, err)
		}
	}
	d.expect("554 5.7.1 Relay access denied", "554 5.7.1 Relay access denied", rcptOK("r@example.org"))
}
