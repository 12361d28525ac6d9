package smtp_test

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

// MAIL and RCPT pass a source route (RFC 5321 §4.1.2 A-d-l) to the session
// in SourceRoute, beside the mailbox without it; replies are upstream's, a
// malformed routed path included (Sluice's copy, SLUICE.md).
func TestServerSourceRoute(t *testing.T) {
	be, s, c, scanner, _ := testServerEhlo(t)
	defer s.Close()
	defer c.Close()

	for _, step := range []struct{ send, want string }{
		{"MAIL FROM:<@a.example,@b.example:root@nsa.gov>", "250 2.0.0 Roger, accepting mail from <root@nsa.gov>"},
		{"RCPT TO:<root@gchq.gov.uk>", "250 2.0.0 I'll make sure <root@gchq.gov.uk> gets this"},
		{"RCPT TO:<@c.example:root@bnd.bund.de>", "250 2.0.0 I'll make sure <root@bnd.bund.de> gets this"},
		{"rcpt to: @d,@e,@f:x@y", "250 2.0.0 I'll make sure <x@y> gets this"},
		{"RCPT TO:<@c.example root@bnd.bund.de>", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>"},
		{"RCPT TO:<@c.example:root@bnd.bund.de", "501 5.5.2 Was expecting RCPT arg syntax of TO:<address>"},
		{"DATA", "354 Go ahead. End your data with <CR><LF>.<CR><LF>"},
		{"Hey <3\r\n.", "250 2.0.0 OK: queued"},
	} {
		io.WriteString(c, step.send+"\r\n")
		if !scanner.Scan() {
			t.Fatalf("%q: connection closed: %v", step.send, scanner.Err())
		}
		if got := scanner.Text(); got != step.want {
			t.Fatalf("%q: got %q, want %q", step.send, got, step.want)
		}
	}

	if len(be.anonmsgs) != 1 {
		t.Fatalf("%d messages, want 1", len(be.anonmsgs))
	}
	msg := be.anonmsgs[0]
	if msg.From != "root@nsa.gov" || !reflect.DeepEqual(msg.Opts.SourceRoute, []string{"a.example", "b.example"}) {
		t.Errorf("MAIL: from %q, route %q", msg.From, msg.Opts.SourceRoute)
	}
	want := []struct {
		to    string
		route []string
	}{
		{"root@gchq.gov.uk", nil},
		{"root@bnd.bund.de", []string{"c.example"}},
		{"x@y", []string{"d", "e", "f"}},
	}
	if len(msg.To) != len(want) {
		t.Fatalf("recipients %q, want %d", msg.To, len(want))
	}
	for i, w := range want {
		if msg.To[i] != w.to || !reflect.DeepEqual(msg.RcptOpts[i].SourceRoute, w.route) {
			t.Errorf("RCPT %d: %q, route %q; want %q, %q", i, msg.To[i], msg.RcptOpts[i].SourceRoute, w.to, w.route)
		}
	}
}

// A plain MAIL has no route, the null reverse-path included.
func TestServerNoSourceRoute(t *testing.T) {
	be, s, c, scanner, _ := testServerEhlo(t)
	defer s.Close()
	defer c.Close()

	for _, from := range []string{"<root@nsa.gov>", "<>"} {
		io.WriteString(c, "MAIL FROM:"+from+"\r\n")
		scanner.Scan()
		if !strings.HasPrefix(scanner.Text(), "250 ") {
			t.Fatalf("MAIL FROM:%s: %q", from, scanner.Text())
		}
		io.WriteString(c, "RCPT TO:<root@gchq.gov.uk>\r\nDATA\r\nHey\r\n.\r\n")
		for i := 0; i < 3; i++ {
			scanner.Scan()
		}
		if !strings.HasPrefix(scanner.Text(), "250 ") {
			t.Fatalf("end of DATA: %q", scanner.Text())
		}
	}
	if len(be.anonmsgs) != 2 {
		t.Fatalf("%d messages, want 2", len(be.anonmsgs))
	}
	for _, m := range be.anonmsgs {
		if m.Opts.SourceRoute != nil || m.RcptOpts[0].SourceRoute != nil {
			t.Errorf("route on a plain path: %q, %q", m.Opts.SourceRoute, m.RcptOpts[0].SourceRoute)
		}
	}
}
