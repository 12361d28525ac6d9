package dovecot

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These run against a fake auth server only for what a real Dovecot does
// not do: die mid-answer, send garbage or nothing at all. The protocol as
// Dovecot speaks it is tested against a real one in
// tests/interop/dovecot_auth_test.go.

const handshake = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nSPID\t42\nCUID\t7\nCOOKIE\tabc\nDONE\n"

// fakeServer listens on a unix socket and runs serve for each connection.
func fakeServer(t *testing.T, serve func(c net.Conn, r *bufio.Reader)) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(c)
			serve(c, r)
			// Hang up as Dovecot would, then read what the client still
			// sends: closing with it unread would be a reset, not an EOF.
			c.(*net.UnixConn).CloseWrite()
			io.Copy(io.Discard, r)
			c.Close()
		}
	}()
	c, err := New(path)
	if err != nil {
		t.Fatal(err)
	}
	c.Timeout = 5 * time.Second
	return c
}

var req = Request{Mech: "PLAIN", User: "alice", Password: "pw", Secured: true}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn, r *bufio.Reader)
		want  string
	}{
		{"closed before handshake", func(c net.Conn, r *bufio.Reader) {}, "handshake: EOF"},
		{"wrong version", func(c net.Conn, r *bufio.Reader) { c.Write([]byte("VERSION\t2\t0\n")) }, `protocol version "2 0"`},
		{"garbage first", func(c net.Conn, r *bufio.Reader) { c.Write([]byte("HELLO there\n")) }, `"HELLO there" before VERSION`},
		{"overlong line", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte("VERSION\t1\t2\nMECH\t" + strings.Repeat("A", 20000) + "\n"))
		}, "longer than 16384"},
		{"dies after AUTH", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			readUntil(r, "AUTH")
		}, "reading the answer: EOF"},
		{"dies mid-answer", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			id := readUntil(r, "AUTH")[1]
			c.Write([]byte("OK\t" + id + "\tuser=al"))
		}, "reading the answer: EOF"},
		{"answer to another id", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			readUntil(r, "AUTH")
			c.Write([]byte("OK\t999\tuser=mallory\n"))
		}, `unexpected answer "OK 999 user=mallory"`},
		{"unknown answer", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			id := readUntil(r, "AUTH")[1]
			c.Write([]byte("MAYBE\t" + id + "\n"))
		}, "unexpected answer"},
		{"OK without user", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			id := readUntil(r, "AUTH")[1]
			c.Write([]byte("OK\t" + id + "\n"))
		}, "OK without user="},
		{"CONT to PLAIN", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			id := readUntil(r, "AUTH")[1]
			c.Write([]byte("CONT\t" + id + "\t\n"))
		}, "unexpected CONT"},
		{"mechanism gone", func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte("VERSION\t1\t2\nMECH\tLOGIN\nDONE\n"))
			r.ReadString('\n')
		}, "does not offer PLAIN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeServer(t, tc.serve)
			user, err := c.Authenticate(context.Background(), req)
			var refused *Refused
			if err == nil || errors.As(err, &refused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Authenticate = %q, %v; want an error with %q", user, err, tc.want)
			}
		})
	}
}

// A Dovecot that accepts and never answers: the exchange ends at Timeout,
// or at once when the context is cancelled (shutdown).
func TestSilentServer(t *testing.T) {
	release := make(chan struct{})
	c := fakeServer(t, func(c net.Conn, r *bufio.Reader) { <-release })
	defer close(release)
	c.Timeout = 100 * time.Millisecond
	_, err := c.Authenticate(context.Background(), req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err %v, want a timeout", err)
	}

	c.Timeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Authenticate(ctx, req); errc <- err }()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("no error after cancel")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Authenticate still waiting after its context was cancelled")
	}
}

// FAIL's flags: "temp" (and 2.3's code=temp_fail) is a temporary failure;
// reason= is tab-unescaped.
func TestFail(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Refused
	}{
		{"FAIL\t%s\tuser=alice", Refused{}},
		{"FAIL\t%s\tuser=alice\treason=no\x01tway", Refused{Reason: "no\tway"}},
		{"FAIL\t%s\ttemp", Refused{Temp: true}},
		{"FAIL\t%s\tcode=temp_fail\treason=db down", Refused{Reason: "db down", Temp: true}},
	} {
		c := fakeServer(t, func(c net.Conn, r *bufio.Reader) {
			c.Write([]byte(handshake))
			id := readUntil(r, "AUTH")[1]
			c.Write([]byte(strings.Replace(tc.line, "%s", id, 1) + "\n"))
		})
		_, err := c.Authenticate(context.Background(), req)
		var refused *Refused
		if !errors.As(err, &refused) || *refused != tc.want {
			t.Errorf("%q: err %v, want %+v", tc.line, err, tc.want)
		}
	}
}

// readUntil reads lines up to the one starting with cmd, split at TABs.
func readUntil(r *bufio.Reader, cmd string) []string {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return []string{cmd, "0"}
		}
		if f := strings.Split(strings.TrimSuffix(line, "\n"), "\t"); f[0] == cmd {
			return f
		}
	}
}

func TestParseAddr(t *testing.T) {
	for spec, want := range map[string]string{
		"/run/dovecot/auth-client":  "unix /run/dovecot/auth-client",
		"private/auth":              "unix private/auth",
		"unix:/run/dovecot/auth":    "unix /run/dovecot/auth",
		"inet:127.0.0.1:12345":      "tcp 127.0.0.1:12345",
		"tcp:[::1]:12345":           "tcp [::1]:12345",
		"local:/run/dovecot/auth":   "unix /run/dovecot/auth", // not a relative path "local:/run/..."
		"inet:12345@127.0.0.1":      "tcp 127.0.0.1:12345",
		"inet6:12345@::1":           "tcp [::1]:12345",
		"inet:127.0.0.1:0":          "error",
		"inet:127.0.0.1:imap":       "error",
		"inet:127.0.0.1":            "error",
		"inet::12345":               "tcp localhost:12345", // Postfix's: no host is localhost
		"unix:":                     "error",
		"":                          "error",
		"/run/dovecot/auth\nclient": "error",
	} {
		n, a, err := ParseAddr(spec)
		got := n + " " + a
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseAddr(%q) = %q, want %q", spec, got, want)
		}
	}
}
