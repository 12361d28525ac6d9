//go:build interop

package interop

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// nginxMailModule is where Debian's libnginx-mod-mail puts nginx's mail
// proxy (scripts/install-deps.sh interop).
const nginxMailModule = "/usr/lib/nginx/modules/ngx_mail_module.so"

// nginxConfig is nginx's SMTP proxy with its defaults for XCLIENT
// (xclient on, proxy_smtp_auth off), clients with and without AUTH, and
// no resolver, so that it sends NAME=[UNAVAILABLE].
const nginxConfig = `load_module %[1]s;
daemon off;
master_process off;
pid %[2]s/nginx.pid;
events {}
mail {
    server_name front.interop.test;
    auth_http %[3]s/auth;
    xclient on;
    smtp_auth login plain none;
    server {
        listen %[4]s;
        protocol smtp;
    }
}
`

// TestNginxMailProxyXClient: Debian's nginx mail proxy, authenticating
// through an auth_http server here, passes swaks's sessions (from
// 127.0.0.7 to .10) to a Sluice listener on ::1 that allows it XCLIENT.
// nginx's connections come from ::1, outside relay_networks, and
// connection_rate_per_ip is 2: the four sessions pass only because the
// proxy's own connections are spared and each counts under its client.
// Sluice's Received field names each client and the HELO it gave nginx;
// the session nginx authenticated is ESMTPA (XCLIENT's LOGIN).
func TestNginxMailProxyXClient(t *testing.T) {
	bin := need(t, "nginx")
	swaks := need(t, "swaks")
	if !fileExists(nginxMailModule) {
		t.Fatalf("%s missing (make interop installs libnginx-mod-mail)", nginxMailModule)
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	upstream := freeAddr6(t)
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`
[limits]
connection_rate_per_ip = 2
[[listener]]
name = "behind-nginx"
listen = %q
xclient_hosts = ["::1/128"]
`, upstream))
	host, port, _ := net.SplitHostPort(upstream)
	auth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// nginx's auth_http protocol: where to proxy the session to.
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", host)
		w.Header().Set("Auth-Port", port)
	}))
	t.Cleanup(auth.Close)
	front, dir := freeAddr(t), t.TempDir()
	cfg := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(nginxConfig, nginxMailModule, dir, auth.URL, front)), 0o644); err != nil {
		t.Fatal(err)
	}
	// -e: its error log, which nginx opens before reading the config.
	startPeer(t, "nginx", front, 20*time.Second, bin, "-p", dir, "-c", cfg, "-e", filepath.Join(dir, "error.log"))
	frontHost, frontPort, _ := net.SplitHostPort(front)
	for i, client := range []string{"127.0.0.7", "127.0.0.8", "127.0.0.9", "127.0.0.10"} {
		args := []string{"--server", frontHost, "--port", frontPort, "--local-interface", client,
			"--helo", "c" + client + ".interop.test", "--from", "alice@sluice.test", "--to", "bob@example.net",
			"--header", "Subject: interop-nginx " + client, "--body", "through nginx"}
		authed := i == 3
		if authed {
			args = append(args, "--auth", "PLAIN", "--auth-user", "alice@sluice.test", "--auth-password", "secret")
		}
		out, err := exec.Command(swaks, args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "250 2.0.0 Ok: queued as ") {
			t.Fatalf("%s: swaks through nginx: %v\n%s", client, err, out)
		}
		d := sink.WaitN(t, i+1, 30*time.Second)[i]
		top := string(d.Data[:min(len(d.Data), 300)])
		first, _, _ := strings.Cut(top, "\r\n\tby ")
		if want := "Received: from c" + client + ".interop.test ([" + client + "])"; first != want {
			t.Errorf("%s: Sluice's Received field starts %q, want %q:\n%s", client, first, want, top)
		}
		if with := strings.Contains(top, "(Sluice) with ESMTPA id "); with != authed {
			t.Errorf("%s: ESMTPA is %v, want %v:\n%s", client, with, authed, top)
		}
	}
}

// freeAddr6 is a free port on ::1.
func freeAddr6(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("::1", strconv.Itoa(testlib.SharedPort(t, "::1")))
}
