package smtp

import (
	"reflect"
	"testing"
)

func TestParser(t *testing.T) {
	validReversePaths := []struct {
		raw, path, after string
	}{
		{"<>", "", ""},
		{"<root@nsa.gov>", "root@nsa.gov", ""},
		{"root@nsa.gov", "root@nsa.gov", ""},
		{"<root@nsa.gov> AUTH=asdf@example.org", "root@nsa.gov", " AUTH=asdf@example.org"},
		{"root@nsa.gov AUTH=asdf@example.org", "root@nsa.gov", " AUTH=asdf@example.org"},
	}
	for _, tc := range validReversePaths {
		p := parser{tc.raw}
		path, route, err := p.parseReversePath()
		if err != nil {
			t.Errorf("parser.parseReversePath(%q) = %v", tc.raw, err)
		} else if path != tc.path {
			t.Errorf("parser.parseReversePath(%q) = %q, want %q", tc.raw, path, tc.path)
		} else if p.s != tc.after {
			t.Errorf("parser.parseReversePath(%q): got after = %q, want %q", tc.raw, p.s, tc.after)
		} else if route != nil {
			t.Errorf("parser.parseReversePath(%q): got route %q, want none", tc.raw, route)
		}
	}

	invalidReversePaths := []string{
		"",
		" ",
		"asdf",
		"<Foo Bar <root@nsa.gov>>",
		" BODY=8BITMIME SIZE=12345",
		"a:b:c@example.org",
		"<root@nsa.gov",
	}
	for _, tc := range invalidReversePaths {
		p := parser{tc}
		if path, _, err := p.parseReversePath(); err == nil {
			t.Errorf("parser.parseReversePath(%q) = %q, want error", tc, path)
		}
	}
}

// A source route (RFC 5321 §4.1.2 A-d-l) is dropped from the mailbox as
// upstream does, and kept in order beside it (Sluice's copy, SLUICE.md).
func TestParserSourceRoute(t *testing.T) {
	valid := []struct {
		raw, path string
		route     []string
		after     string
	}{
		{"<@a:root@nsa.gov>", "root@nsa.gov", []string{"a"}, ""},
		{"<@a.example,@b.example,@c.example:root@nsa.gov>", "root@nsa.gov", []string{"a.example", "b.example", "c.example"}, ""},
		{"@a,@b:root@nsa.gov SIZE=10", "root@nsa.gov", []string{"a", "b"}, " SIZE=10"},
		{`<@[192.0.2.1]:"root user"@nsa.gov> X=1`, "root user@nsa.gov", []string{"[192.0.2.1]"}, " X=1"},
		// Not checked, as upstream never did, but still seen as a route.
		{"<@:root@nsa.gov>", "root@nsa.gov", []string{""}, ""},
		{"<@a,b:root@nsa.gov>", "root@nsa.gov", []string{"a", "b"}, ""},
	}
	for _, tc := range valid {
		for _, reverse := range []bool{false, true} {
			p := parser{tc.raw}
			var path string
			var route []string
			var err error
			if reverse {
				path, route, err = p.parseReversePath()
			} else {
				path, route, err = p.parsePath()
			}
			if err != nil {
				t.Errorf("parse(%q) = %v", tc.raw, err)
				continue
			}
			if path != tc.path || !reflect.DeepEqual(route, tc.route) || p.s != tc.after {
				t.Errorf("parse(%q) = %q, %q, after %q; want %q, %q, after %q",
					tc.raw, path, route, p.s, tc.path, tc.route, tc.after)
			}
		}
	}

	// Malformed routed paths are refused as upstream refuses them.
	for _, raw := range []string{
		"<@a,@b root@nsa.gov>",
		"<@a:>",
		"<@a:root@nsa.gov",
		"<@a:@b:root>",
		"<@a:root>",
	} {
		p := parser{raw}
		if path, route, err := p.parsePath(); err == nil {
			t.Errorf("parsePath(%q) = %q, %q; want error", raw, path, route)
		}
	}
}

// nonSMTPCommand takes Postfix's view: CONNECT, GET and POST in any case,
// and a first word that begins with a header field's name and colon.
func TestNonSMTPCommand(t *testing.T) {
	for line, want := range map[string]bool{
		"GET / HTTP/1.1":            true,
		"post /x HTTP/1.0":          true,
		"CONNECT mx:25 HTTP/1.1":    true,
		"GET":                       true,
		"Subject: hi":               true,
		"Subject:hi":                true,
		"X-Mailer:\tx":              true,
		"From:<a@example.org>":      true,
		"MAIL:":                     true,
		"GETS /":                    false,
		"MAIL FROM:<a@example.org>": false,
		"RCPT TO:<b@example.org>":   false,
		"Subject : obsolete":        false,
		":x":                        false,
		"\x00a:b":                   false,
		"ü:x":                       false,
		"":                          false,
		"NOOP a:b":                  false,
	} {
		if got := nonSMTPCommand(line); got != want {
			t.Errorf("nonSMTPCommand(%q) = %v, want %v", line, got, want)
		}
	}
}
