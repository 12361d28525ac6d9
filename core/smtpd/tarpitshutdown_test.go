package smtpd

import (
	"context"
	"strings"
	"testing"
)

// Shutdown during a wait of a session outside a transaction, which it
// tells to go at once (sayGoodbye), gives that command one reply: in the
// clear its 421, and the reply held does not follow it (RFC 5321 §4.2);
// under TLS, where no 421 is written, the reply held. Shutdown's end of
// reading is no hang-up of the client's: the hang-up watch saw it as
// one, and closed the session unanswered under TLS or wrote the held
// reply after the 421, as the race went.
func TestErrorTarpitShutdownOfIdleSession(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  bool
		want string
	}{
		{"clear", false, "421 4.3.2 Service shutting down, try again later"},
		{"STARTTLS", true, "500 5.5.2 Syntax errors, XFOO command unrecognized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newTarpitWaits(true)
			tlsOpt, clientTLS := withSTARTTLS(t)
			h := start(t, tlsOpt, withTarpit(w))
			var d *dialog
			if tc.tls {
				d = h.dialTLS("mx", clientTLS)
			} else {
				d = h.dial()
			}
			d.ehlo()
			for range 10 {
				d.cmd("XFOO", "500 5.5.2 Syntax errors, XFOO command unrecognized")
			}
			d.send("XFOO")
			<-w.entered
			stopped := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitBound)
				defer cancel()
				stopped <- h.srv.Shutdown(ctx)
			}()
			waitEnded(t, w, "Shutdown")
			d.expect(tc.want)
			d.expectClosed()
			if err := <-stopped; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if logs := h.logs.String(); strings.Contains(logs, "hung up in the error tarpit") {
				t.Errorf("Shutdown logged as the client's hang-up:\n%s", logs)
			}
		})
	}
}
