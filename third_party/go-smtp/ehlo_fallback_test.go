package smtp

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// helloAgainst runs Hello against a scripted server and returns the
// client's commands and the client.
func helloAgainst(t *testing.T, server string) (string, *Client, error) {
	t.Helper()
	var cmdbuf bytes.Buffer
	bcmdbuf := bufio.NewWriter(&cmdbuf)
	var fake faker
	fake.ReadWriter = bufio.NewReadWriter(bufio.NewReader(strings.NewReader(strings.ReplaceAll(server, "\n", "\r\n"))), bcmdbuf)
	c := NewClient(fake)
	c.serverName = "fake.host"
	err := c.Hello("customhost")
	bcmdbuf.Flush()
	return cmdbuf.String(), c, err
}

// A server refusing EHLO with 501 or 550 (RFC 5321 §4.1.4 lists 500, 501,
// 502 and 550) gets HELO, as Postfix sends it; v0.25.1 fell back on 500
// and 502 only, and the destination stayed unreachable.
func TestHelloFallsBackOnAnyRefusal(t *testing.T) {
	for _, code := range []string{"500", "501", "502", "550"} {
		cmds, c, err := helloAgainst(t, "220 hello\n"+code+" 5.5.1 no EHLO here\n250 hi\n")
		if err != nil {
			t.Errorf("%s: Hello: %v", code, err)
		}
		if cmds != "EHLO customhost\r\nHELO customhost\r\n" {
			t.Errorf("%s: commands %q, want EHLO then HELO", code, cmds)
		}
		c.Close()
	}
}

// EHLO keywords are case-insensitive (RFC 5321 §2.4): a server that
// advertises them in lower case still gets STARTTLS, SIZE, PIPELINING.
func TestEhloKeywordsIgnoreCase(t *testing.T) {
	_, c, err := helloAgainst(t, "220 hello\n250-mx at your service\n250-starttls\n250-size 1000\n250-Pipelining\n250 dsn\n")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, kw := range []string{"STARTTLS", "SIZE", "PIPELINING", "DSN"} {
		if ok, _ := c.Extension(kw); !ok {
			t.Errorf("%s not seen", kw)
		}
	}
	if n, ok := c.MaxMessageSize(); !ok || n != 1000 {
		t.Errorf("MaxMessageSize = %d, %v; want 1000", n, ok)
	}
}
