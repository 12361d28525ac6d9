package smtpd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// Shutdown during an implicit-TLS handshake (admit's, before the connect
// checks) ends it at once, and the handshake that fails for it is no
// client's failure: logged at debug, as a PROXY header Shutdown cuts off
// is, not at info with the failures an operator looks into.
func TestShutdownDuringImplicitTLSHandshake(t *testing.T) {
	certFile, keyFile, _ := testCert(t)
	h := start(t, func(o *Options) {
		o.Config.Listeners = append(o.Config.Listeners, config.Listener{
			Name: "smtps", Listen: "127.0.0.1:0", Kind: config.KindSubmissions, TLSCert: certFile, TLSKey: keyFile,
		})
	})
	d := dialConn(t, h.addr("smtps"))
	_, _ = d.c.Write([]byte{0x16, 0x03, 0x01}) // a ClientHello's record header, and no more
	waitFor(t, func() bool { return h.conns() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (the handshake held it)", err)
	}
	d.expectClosed()
	logs := h.logs.String()
	if !strings.Contains(logs, `level=DEBUG msg="TLS handshake failed" listener=smtps client=127.0.0.1`) ||
		strings.Contains(logs, `level=INFO msg="TLS handshake failed"`) {
		t.Errorf("want the handshake Shutdown ended logged at debug only:\n%s", logs)
	}
}
