package main

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// checkCanonical checks the canonical draft as core/config read it:
// sender_canonical_maps' address and @domain entries, masquerade_domains
// with its $mydomain expanded and its "!" kept, masquerade_exceptions
// and masquerade_classes are the route stage's.
func checkCanonical(t *testing.T, c *config.Config) {
	t.Helper()
	if len(c.Stages) != 1 || c.Stages[0].Plugin != "route" {
		t.Fatalf("canonical: stages %+v, want the route stage alone", c.Stages)
	}
	cfg := c.Stages[0].Config
	got := map[string]string{}
	m, _ := cfg["sender_canonical"].(map[string]any)
	for k, v := range m {
		got[k], _ = v.(string)
	}
	want := map[string]string{"root@web1.internal.example": "webmaster@example.org", "root@web2.internal.example": "webmaster@example.org", "@old.example": "@example.org"}
	if !maps.Equal(got, want) {
		t.Errorf("canonical: sender_canonical = %v, want %v", got, want)
	}
	strs := func(key string) []string {
		var out []string
		l, _ := cfg[key].([]any)
		for _, v := range l {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	if got := strs("masquerade_domains"); !slices.Equal(got, []string{"!backup.example.org", "example.org"}) {
		t.Errorf("canonical: masquerade_domains = %q", got)
	}
	if got := strs("masquerade_exceptions"); !slices.Equal(got, []string{"root"}) {
		t.Errorf("canonical: masquerade_exceptions = %q", got)
	}
	if got := strs("masquerade_classes"); !slices.Equal(got, []string{"envelope_sender", "header_sender", "header_recipient"}) {
		t.Errorf("canonical: masquerade_classes = %q", got)
	}
}

// What the route stage would refuse is listed, not written: a masquerade
// list naming a table, exceptions without the domains they are to, a
// result that is a bare name or no domain; an empty masquerade_domains,
// Postfix's default, writes nothing and says so.
func TestImportPostfixCanonicalEdges(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsender_canonical_maps = hash:/etc/postfix/canonical\n" +
			"masquerade_domains = example.org, hash:/etc/postfix/masq\nmasquerade_exceptions = root\n",
		"canonical": "alice@example.org alice\n@old.example @bad..example\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{
		"#   masquerade_domains = example.org, hash:/etc/postfix/masq\n#       \"hash:/etc/postfix/masq\" is no domain",
		"#   masquerade_exceptions = root\n#       no masquerade_domains carried over",
		"#   /etc/postfix/canonical:1 alice@example.org alice\n#       a bare name, which Postfix qualifies with $myorigin",
		"#   /etc/postfix/canonical:2 @old.example @bad..example\n#       not a domain",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "[[stage]]") {
		t.Errorf("nothing carried over, yet a route stage:\n%s", out)
	}
	dir = writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\nmasquerade_domains =\n"})
	if out, err = importPostfix(dir, "host"); err != nil || strings.Contains(out, "[[stage]]") || !strings.Contains(out, "#   masquerade_domains =\n#       empty") {
		t.Errorf("an empty masquerade_domains: err %v\n%s", err, out)
	}
}

// rewrite_headers follows what decides Postfix's rewriting of the sender
// fields: the classes of the rewriting carried must list header_sender,
// and local_header_rewrite_clients must name some client. The route
// stage's default, on, rewrote From in mail a site had kept its sender
// fields of (sender_canonical_classes = envelope_sender is the usual way
// to leave them, and a relay client's DKIM signature, alone).
func TestImportPostfixRewriteHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, mainCF string
		want         []string // in the draft
		notes        []string // not carried over
	}{
		{"envelope only", "sender_canonical_classes = envelope_sender\n",
			[]string{"# sender_canonical_classes = envelope_sender: no header_sender, the envelope sender alone\nrewrite_headers = false\n"}, nil},
		{"no client", "local_header_rewrite_clients =\n",
			[]string{"rewrite_headers = false\n"}, nil},
		{"a remote domain", "local_header_rewrite_clients =\nremote_header_rewrite_domain = example.org\n",
			[]string{"rewrite_headers = true\n"}, []string{"remote_header_rewrite_domain"}},
		{"default", "",
			[]string{"# local_header_rewrite_clients (not set: Postfix's default, permit_inet_interfaces, is this host's own clients;", "rewrite_headers = true\n"}, nil},
		{"own clients", "local_header_rewrite_clients = permit_mynetworks, permit_sasl_authenticated\nsender_canonical_classes = header_sender envelope_sender\n",
			[]string{"# sender_canonical_classes = header_sender, envelope_sender, local_header_rewrite_clients = permit_mynetworks, permit_sasl_authenticated (Sluice's", "rewrite_headers = true\n"}, nil},
		{"masquerade with header_sender", "masquerade_domains = example.org\nmasquerade_classes = envelope_sender, header_sender, envelope_recipient\n",
			[]string{"rewrite_headers = true\n", "# masquerade_classes, without envelope_recipient\nmasquerade_classes = [\"envelope_sender\", \"header_sender\"]\n",
				"#   masquerade_classes = envelope_sender, header_sender, envelope_recipient\n#       envelope_recipient left out: the route stage masquerades no envelope recipient\n"},
			[]string{"masquerade_classes"}},
		// The stage's masquerade_classes says which fields masquerading
		// rewrites: a list without header_sender no longer turns the
		// sender fields' canonical rewriting off.
		{"masquerade recipient fields", "masquerade_domains = example.org\nmasquerade_classes = envelope_sender header_recipient\n",
			[]string{"rewrite_headers = true\n", "# masquerade_classes\nmasquerade_classes = [\"envelope_sender\", \"header_recipient\"]\n"}, nil},
		{"masquerade the envelope alone", "masquerade_domains = example.org\nmasquerade_classes = envelope_sender\n",
			[]string{"rewrite_headers = true\n", "masquerade_classes = [\"envelope_sender\"]\n"}, nil},
		{"masquerade nothing known", "masquerade_domains = example.org\nmasquerade_classes = envelope_recipient, header_from\n",
			[]string{"# masquerade_classes, without envelope_recipient, header_from\nmasquerade_classes = []\n",
				"envelope_recipient, header_from left out: the route stage masquerades no envelope recipient, and knows envelope_sender, header_sender and header_recipient alone"},
			[]string{"masquerade_classes"}},
		{"classes without domains", "masquerade_classes = envelope_sender\n",
			[]string{"#   masquerade_classes = envelope_sender\n#       no masquerade_domains carried over"}, []string{"masquerade_classes"}},
		{"one of two", "masquerade_domains = example.org\nsender_canonical_classes = envelope_sender\n",
			[]string{"# sender_canonical_classes = envelope_sender: no header_sender, the envelope sender alone (where masquerade_classes (not set: envelope_sender, header_sender, header_recipient) has it: one switch for both here)\nrewrite_headers = false\n"}, nil},
	} {
		dir := writePostfix(t, "postfix", map[string]string{
			"main.cf":   "myhostname = mx.example.org\nsender_canonical_maps = hash:/etc/postfix/canonical\n" + tc.mainCF,
			"canonical": "@old.example @example.org\n",
		})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: draft lacks %q:\n%s", tc.name, w, out)
			}
		}
		listed := strings.Join(notCarried(t, out), "\n")
		for _, param := range []string{"sender_canonical_classes", "masquerade_classes", "local_header_rewrite_clients", "remote_header_rewrite_domain"} {
			if strings.Contains(tc.mainCF, param) && strings.Contains(listed, param) != slices.Contains(tc.notes, param) {
				t.Errorf("%s: %s listed as not carried over: %v, want %v\n%s", tc.name, param, !slices.Contains(tc.notes, param), slices.Contains(tc.notes, param), out)
			}
		}
	}
}
