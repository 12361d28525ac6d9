package delivery

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// An expired certificate: opportunistic TLS delivers over it, as
// Postfix's "may" does, while a tls=verify route defers with the reason.
func TestExpiredCertificate(t *testing.T) {
	ca := testlib.NewCA(t)
	leaf := ca.IssueExpired("127.0.0.1")
	caFile := ca.CertFile()
	srvTLS := func() *tls.Config { return &tls.Config{Certificates: []tls.Certificate{leaf}} }
	may := startSink(t, "127.0.0.1:0", sinkOptions{tls: srvTLS()})
	must := startSink(t, "127.0.0.1:0", sinkOptions{tls: srvTLS()})
	h := newHarness(t)
	h.start()
	id := h.enqueue(withRoutes("s@origin.test",
		"may@dest.test", "smtp:"+may.addr,
		"must@dest.test", "smtp:"+must.addr+"?tls=verify&ca="+caFile))
	if got := waitMsg(t, may); !got.tls {
		t.Error("opportunistic: delivered without TLS")
	}
	r := rcpt(h.recorded(id), "must@dest.test")
	if r.Status != envelope.RcptPending || !strings.Contains(r.LastReply, "x509: certificate has expired") {
		t.Errorf("tls=verify: %+v, want deferred for the expired certificate", r)
	}
	if n := len(must.messages()); n != 0 {
		t.Errorf("tls=verify: %d messages sent", n)
	}
}

// A server with only TLS 1.0 and 1.1 (RFC 8996 deprecates both) fails
// the handshake: opportunistic TLS sends the mail in plaintext.
func TestServerWithOnlyOldTLS(t *testing.T) {
	h := newHarness(t)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: &tls.Config{
		Certificates: []tls.Certificate{testlib.SelfSigned(t, "sink.test")},
		MinVersion:   tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	}})
	h.opt.Config.Relay = s.addr
	h.start()
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	if got := waitMsg(t, s); got.tls {
		t.Error("delivered over TLS older than 1.2")
	}
	if n := s.connections(); n != 2 {
		t.Errorf("%d connections, want 2 (the failed handshake, then plaintext)", n)
	}
}
