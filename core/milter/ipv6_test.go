package milter

import (
	"context"
	"net"
	"testing"
)

// An IPv6 client reaches a milter listening on [::1] as Postfix reports
// one (milter8.c, milter8_conn_event): SMFIC_CONNECT family '6' with the
// plain address, an unnamed client as "[::1]", and {client_addr} and
// {daemon_addr} without the "IPv6:" tag of an address literal.
func TestIPv6ClientOnIPv6Milter(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	rec := &record{}
	addr := serveOn(t, ln, scripted{rec: rec}, 0)
	sess := testSession()
	sess.ClientIP, sess.ClientName, sess.LocalIP = "::1", "", "::1"
	c, err := newStage(t, addr).Open(context.Background(), sess)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if evs := rec.Events(); len(evs) == 0 || evs[0] != "connect [::1] tcp6 ::1" {
		t.Fatalf("milter saw %q", evs)
	}
	for k, want := range map[string]string{"{client_addr}": "::1", "{daemon_addr}": "::1", "{if_addr}": "::1", "_": "unknown [::1]"} {
		if got := rec.Macro(k); got != want {
			t.Errorf("macro %s = %q, want %q", k, got, want)
		}
	}
}
