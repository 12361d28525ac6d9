package verify

import (
	"crypto/tls"
	"fmt"
	"slices"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// A probe speaks TLS to the next hop as delivery would: STARTTLS when
// offered, unverified by default (Postfix's may); under tls=verify only
// to a server whose certificate ca= (or the system roots) vouches for,
// else the recipient is unverified; under tls=required never in the
// clear.
func TestProbeTLS(t *testing.T) {
	ca := testlib.NewCA(t)
	nh := newHop(t, false, &tls.Config{Certificates: []tls.Certificate{testlib.SelfSigned(t, "127.0.0.1")}}, "alice@example.org")
	port := nh.addr[len("127.0.0.1:"):]
	h := serve(t, &Plugin{}, hopConfig(nh, ""), "")
	wantVerdict(t, "opportunistic", h.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")
	hv := serve(t, &Plugin{}, fmt.Sprintf(`{"next_hop": "smtp:[127.0.0.1]:%s?tls=verify&ca=%s"}`, port, ca.CertFile()), "")
	wantVerdict(t, "verify, another CA's certificate", hv.Rcpt(txn, "alice@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	nh.mu.Lock()
	under := slices.Clone(nh.tls)
	nh.mu.Unlock()
	if !slices.Equal(under, []bool{true}) {
		t.Fatalf("RCPTs under TLS: %v, want one, under TLS", under)
	}

	good := newHop(t, false, ca.ServerConfig("127.0.0.1"), "alice@example.org")
	hg := serve(t, &Plugin{}, fmt.Sprintf(`{"next_hop": "smtp:[127.0.0.1]:%s?tls=verify&ca=%s"}`, good.addr[len("127.0.0.1:"):], ca.CertFile()), "")
	wantVerdict(t, "verify, the CA's certificate", hg.Rcpt(txn, "alice@example.org"), sdk.ActionContinue, 0, "")

	plain := newHop(t, false, nil, "alice@example.org")
	hr := serve(t, &Plugin{}, fmt.Sprintf(`{"next_hop": "smtp:[127.0.0.1]:%s?tls=required"}`, plain.addr[len("127.0.0.1:"):]), "")
	wantVerdict(t, "required, no STARTTLS", hr.Rcpt(txn, "alice@example.org"), sdk.ActionTempfail, 450, "4.1.1")
	wantAsked(t, plain)
}
