package delivery

import (
	"crypto/tls"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// A TLS 1.3 server that wants a client certificate refuses the session
// only after the client's side of the handshake is done: the client's
// handshake succeeds and the refusal (an alert, then the close) comes as
// the reply to the EHLO that follows. Under opportunistic TLS the host is
// then tried again in plaintext, as after a failed handshake, as Postfix
// does after a TLS session failure (smtp_stream_except's
// RETRY_AS_PLAINTEXT). It was deferred, at every attempt until max_age.
func TestTLSSessionFailureRetriesInPlaintext(t *testing.T) {
	h := newHarness(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")},
		MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert}
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: srvTLS})
	h.opt.Config.Relay = s.addr
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	r := rcpt(h.recorded(id), "r@dest.test")
	if r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered in plaintext after the TLS session failed", r)
	}
	if got := s.messages(); len(got) != 1 || got[0].tls {
		t.Fatalf("messages %+v, want one, in plaintext", got)
	}
	if n := s.connections(); n != 2 {
		t.Fatalf("%d connections, want 2 (TLS attempt, then plaintext)", n)
	}
}
