//go:build interop

package interop

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestSwaksXClient: Debian's swaks (scripts/install-deps.sh interop),
// from 127.0.0.1 in the listener's xclient_hosts, names another client
// with XCLIENT (--xclient-addr; 192.0.2.1 is an address value only,
// nothing connects to it), greets again after the 220 and sends as the
// user --xclient-login names, which may relay. Sluice's Received field
// names 192.0.2.1 and the name XCLIENT gave; swaks from 127.0.0.9 is
// offered no XCLIENT.
func TestSwaksXClient(t *testing.T) {
	swaks := need(t, "swaks")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := freeAddr(t)
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`
[[listener]]
name = "behind-nginx"
listen = %q
xclient_hosts = ["127.0.0.1/32"]
`, addr))
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--local-interface", "127.0.0.1",
		"--helo", "proxy.interop.test", "--xclient-addr", "192.0.2.1", "--xclient-name", "client.xclient.test",
		"--xclient-login", "alice@sluice.test",
		"--from", "alice@sluice.test", "--to", "bob@example.net",
		"--header", "Subject: interop-xclient", "--body", "named by XCLIENT").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<-  220 mx.sluice.test ESMTP") ||
		!strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	d := sink.WaitN(t, 1, 30*time.Second)[0]
	top := string(d.Data[:min(len(d.Data), 300)])
	first, _, _ := strings.Cut(top, "\r\n\tby ")
	if first != "Received: from proxy.interop.test (client.xclient.test [192.0.2.1])" || !strings.Contains(top, "(Sluice) with ESMTPA id ") {
		t.Errorf("Sluice's Received field does not name the XCLIENT client:\n%s", top)
	}

	out, err = exec.Command(swaks, "--server", host, "--port", port, "--local-interface", "127.0.0.9",
		"--xclient-addr", "192.0.2.1", "--from", "alice@sluice.test", "--to", "bob@sluice.test").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Host did not advertise XCLIENT") {
		t.Errorf("swaks from 127.0.0.9 (not in xclient_hosts): %v\n%s", err, out)
	}
}
