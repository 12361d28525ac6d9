package smtpd

import (
	"context"
	"io"
	"testing"
	"time"
)

// A shutdown between STARTTLS and the client's next EHLO closes the TLS
// stream cleanly: its 421 notice used to be written in the clear into the
// TLS records (the session that would have known of TLS starts only at
// that EHLO), and the client read a broken record instead of an end.
func TestShutdownAfterSTARTTLSBeforeEHLO(t *testing.T) {
	tlsOpt, clientTLS := withSTARTTLS(t)
	h := start(t, tlsOpt)
	d := h.dialTLS("mx", clientTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	_ = d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := d.r.ReadString('\n'); err != io.EOF || l != "" {
		t.Fatalf("got %q, %v; want a clean close (io.EOF)", l, err)
	}
}
