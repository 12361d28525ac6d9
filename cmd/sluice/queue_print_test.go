package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// A remote server's reply, a sender and a HELO name are the outside
// world's text. queue list and queue show print their control characters
// escaped, as sluice trace does: an OSC or CSI sequence in a 4xx reply
// cannot retitle or repaint the operator's terminal, and a CR LF in it
// cannot forge a line of the listing.
func TestQueueListAndShowEscapeControlCharacters(t *testing.T) {
	url, ids, q, _ := adminServer(t, 1)
	const reply = "451 4.3.0 busy\x1b]0;PWNED\x07\x1b[31m\r\nrcpt: forged"
	if _, err := q.Modify(ids[0], func(m *envelope.Message) error {
		m.From = "a\x1b[2J@example.org"
		m.Helo = "helo\x1b[1m\u0085"
		m.LastError = reply
		m.Rcpts[0].LastReply = reply
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const escaped = `451 4.3.0 busy\x1b]0;PWNED\a\x1b[31m\r\nrcpt: forged`
	for _, args := range [][]string{{"list"}, {"show", ids[0]}} {
		out := runCLI(t, append(append([]string{"queue"}, args...), "--admin", url)...)
		if strings.ContainsAny(out, "\x1b\x07\r") || strings.Contains(out, "\u0085") {
			t.Errorf("queue %s wrote a control character:\n%q", args[0], out)
		}
		if !strings.Contains(out, escaped) || !strings.Contains(out, `a\x1b[2J@example.org`) {
			t.Errorf("queue %s: want the reply and the sender escaped:\n%s", args[0], out)
		}
		if strings.Contains(out, "\nrcpt: forged") {
			t.Errorf("queue %s: the reply forged a line:\n%s", args[0], out)
		}
	}
	if out := runCLI(t, "queue", "show", ids[0], "--admin", url); !strings.Contains(out, `(helo\x1b[1m\u0085)`) {
		t.Errorf("queue show: want the HELO name escaped:\n%s", out)
	}
	// A right-to-left override (an SMTPUTF8 local part may carry one)
	// would make the terminal show the rest of the row reversed.
	if _, err := q.Modify(ids[0], func(m *envelope.Message) error {
		m.From = "\u202egro.elpmaxe@\u2066x"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"list", "show"} {
		args := []string{"queue", sub, "--admin", url}
		if sub == "show" {
			args = append(args, ids[0])
		}
		if out := runCLI(t, args...); strings.ContainsAny(out, "\u202e\u2066") || !strings.Contains(out, `\u202egro.elpmaxe@\u2066x`) {
			t.Errorf("queue %s: want the bidi controls escaped:\n%s", sub, out)
		}
	}
	// --json keeps the exact bytes, for scripts.
	if out := runCLI(t, "queue", "show", ids[0], "--admin", url, "--json"); !strings.Contains(out, `\u001b]0;PWNED\u0007`) {
		t.Errorf("queue show --json changed the reply:\n%s", out)
	}
}

// A password in --admin (http://user:pw@host, for a proxy in front of the
// API) is not printed in the error of a daemon that is not there, nor of
// an address that answers with something else.
func TestAdminURLPasswordNotPrinted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html>not sluice</html>")
	}))
	defer other.Close()
	for base, wantCode := range map[string]int{"http://op:hunter2@" + closed: 2, strings.Replace(other.URL, "//", "//op:hunter2@", 1): 1} {
		var o, e bytes.Buffer
		code := run([]string{"queue", "list", "--admin", base}, nil, &o, &e)
		if code != wantCode || strings.Contains(e.String(), "hunter2") || !strings.Contains(e.String(), "op:xxxxx@") {
			t.Errorf("--admin %s: exit %d, stderr %q", base, code, e.String())
		}
	}
}
