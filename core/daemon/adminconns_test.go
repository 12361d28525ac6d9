package daemon

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// The admin API serves at most adminMaxConns connections at once: one
// more waits until a connection closes, instead of taking another of the
// file descriptors the daemon shares with SMTP. It had no cap, and a
// keep-alive connection was never closed.
func TestAdminConnectionsCapped(t *testing.T) {
	d := startDaemon(t, "")
	addr := d.AdminAddr().String()
	conns := make([]net.Conn, adminMaxConns)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	get := func(timeout time.Duration) error {
		cl := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := cl.Get("http://" + addr + "/api/version")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(300 * time.Millisecond); err == nil {
		t.Fatalf("a request beyond %d open connections was served at once", adminMaxConns)
	}
	conns[0].Close()
	if err := get(10 * time.Second); err != nil {
		t.Fatalf("after a connection closed: %v", err)
	}
}

// The warning at start is for an admin API beyond loopback without a token.
func TestAdminExposed(t *testing.T) {
	for _, tc := range []struct {
		listen, token string
		want          bool
	}{
		{"127.0.0.1:8025", "", false},
		{"[::1]:8025", "", false},
		{"localhost:8025", "", false},
		{"0.0.0.0:8025", "", true},
		{"192.0.2.1:8025", "", true},
		{"0.0.0.0:8025", "secret", false},
		{"", "", false},
	} {
		if got := adminExposed(tc.listen, tc.token); got != tc.want {
			t.Errorf("adminExposed(%q, %q) = %v, want %v", tc.listen, tc.token, got, tc.want)
		}
	}
}
