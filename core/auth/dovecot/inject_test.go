package dovecot

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
)

// A client's user name and password reach Dovecot only base64-encoded
// (resp= and CONT), so TABs and newlines in them cannot add fields to the
// AUTH line (a user=, a second "OK") nor start a line of their own: what
// Dovecot reads is the fields Sluice meant, one line per step.
func TestCredentialsCannotInjectFields(t *testing.T) {
	const (
		user = "alice\tuser=root\nOK\t1\tuser=root"
		pass = "pw\tnologin\r\nCONT\t1\tx"
	)
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			got := make(chan []string, 1) // the lines after the handshake
			c := fakeServer(t, func(c net.Conn, r *bufio.Reader) {
				c.Write([]byte(handshake))
				auth := readUntil(r, "AUTH")
				lines := []string{strings.Join(auth, "\t")}
				if mech == "LOGIN" {
					c.Write([]byte("CONT\t" + auth[1] + "\t" + base64.StdEncoding.EncodeToString([]byte("Password:")) + "\n"))
					l, _ := r.ReadString('\n')
					lines = append(lines, strings.TrimSuffix(l, "\n"))
				}
				c.Write([]byte("FAIL\t" + auth[1] + "\n"))
				rest, _ := io.ReadAll(r) // until the client hangs up
				if len(rest) > 0 {
					lines = append(lines, string(rest))
				}
				got <- lines
			})
			_, err := c.Authenticate(context.Background(), Request{Mech: mech, User: user, Password: pass, Secured: true})
			var refused *Refused
			if !errors.As(err, &refused) {
				t.Fatalf("err %v, want Dovecot's FAIL", err)
			}
			lines := <-got
			f := strings.Split(lines[0], "\t")
			if len(f) != 7 || !slices.Equal(f[2:6], []string{mech, "service=smtp", "nologin", "secured"}) || !strings.HasPrefix(f[6], "resp=") {
				t.Fatalf("AUTH line %q, want AUTH ID %s service=smtp nologin secured resp=...", lines[0], mech)
			}
			first, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(f[6], "resp="))
			want := "\x00" + user + "\x00" + pass
			if mech == "LOGIN" {
				want = user
			}
			if err != nil || string(first) != want {
				t.Errorf("resp= decodes to %q (%v), want %q", first, err, want)
			}
			wantLines := 1
			if mech == "LOGIN" {
				wantLines = 2
				cont := strings.Split(lines[1], "\t")
				pw, err := base64.StdEncoding.DecodeString(cont[len(cont)-1])
				if len(cont) != 3 || cont[0] != "CONT" || cont[1] != f[1] || err != nil || string(pw) != pass {
					t.Errorf("CONT line %q, want CONT %s and the password base64-encoded", lines[1], f[1])
				}
			}
			if len(lines) != wantLines {
				t.Errorf("Dovecot read %q, want %d lines", lines, wantLines)
			}
		})
	}
}
