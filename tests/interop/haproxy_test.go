//go:build interop

package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// haproxyConfig is a TCP-mode HAProxy with one frontend per PROXY
// protocol version, and one for v2 with a CRC32C TLV (HAProxy 2.6's
// server keyword proxy-v2-options crc32c), all in front of one Sluice
// listener.
const haproxyConfig = `global
    maxconn 64
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe_v2
    bind %[1]s
    default_backend be_v2
backend be_v2
    server s1 %[3]s send-proxy-v2
frontend fe_v1
    bind %[2]s
    default_backend be_v1
backend be_v1
    server s1 %[3]s send-proxy
frontend fe_crc
    bind %[4]s
    default_backend be_crc
backend be_crc
    server s1 %[3]s send-proxy-v2 proxy-v2-options crc32c
`

// TestHAProxyProxyProtocol: Debian's HAProxy (scripts/install-deps.sh
// interop) in TCP mode relays swaks, connecting from 127.0.0.9, to a
// Sluice listener that trusts it (proxy_protocol), with send-proxy-v2,
// with send-proxy (v1), and with send-proxy-v2 and a CRC32C, which Sluice
// checks (a mismatch would close the connection before the greeting).
// Sluice's Received field names the client, not the proxy at 127.0.0.1.
func TestHAProxyProxyProtocol(t *testing.T) {
	bin := need(t, "haproxy")
	swaks := need(t, "swaks")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	proxied := freeAddr(t)
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`
[[listener]]
name = "behind-haproxy"
listen = %q
proxy_protocol = ["127.0.0.1/32"]
`, proxied))
	v2, v1, crc := freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(haproxyConfig, v2, v1, proxied, crc)), 0o644); err != nil {
		t.Fatal(err)
	}
	// -db: foreground, no daemon; the config is the test's alone.
	startPeer(t, "haproxy", crc, 20*time.Second, bin, "-db", "-f", cfg)
	for i, fe := range []struct{ name, addr string }{{"send-proxy-v2", v2}, {"send-proxy", v1}, {"send-proxy-v2 crc32c", crc}} {
		host, port, _ := net.SplitHostPort(fe.addr)
		out, err := exec.Command(swaks, "--server", host, "--port", port, "--local-interface", "127.0.0.9",
			"--helo", "client.interop.test", "--from", "alice@sluice.test", "--to", "bob@example.net",
			"--header", "Subject: interop-haproxy "+fe.name, "--body", "through HAProxy").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
			t.Fatalf("%s: swaks: %v\n%s", fe.name, err, out)
		}
		d := sink.WaitN(t, i+1, 30*time.Second)[i]
		if !strings.Contains(string(d.Data), "Subject: interop-haproxy "+fe.name) {
			t.Errorf("%s: the sink got another message:\n%s", fe.name, d.Data)
		}
		top := string(d.Data[:min(len(d.Data), 300)])
		// The first field is Sluice's: Received: from HELO (… [127.0.0.9]).
		first, _, _ := strings.Cut(top, "\r\n\tby ")
		if !strings.HasPrefix(first, "Received: from client.interop.test (") || !strings.HasSuffix(first, "[127.0.0.9])") {
			t.Errorf("%s: Sluice's Received field does not name the client 127.0.0.9:\n%s", fe.name, top)
		}
	}
}
