package route

import (
	"slices"
	"strings"
	"testing"
)

// TestAddrSpecs: the addr-spec of each mailbox in a field is found where
// it is, through display names, comments, groups, routes and folding;
// what is not an address list, or an addr-spec with something inside it,
// gives nothing, so that the field is left as it is.
func TestAddrSpecs(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want []string // nil: not parsed
	}{
		{`alice@example.org`, []string{"alice@example.org"}},
		{`Alice <alice@example.org>`, []string{"alice@example.org"}},
		{`"Smith, John" <john@example.org>, bob@example.org (Bob, "the" builder)`, []string{"john@example.org", "bob@example.org"}},
		{`John Q. Public <jqp@example.org>`, []string{"jqp@example.org"}},
		{"Alice\r\n <alice@example.org>,\r\n\tbob@example.org", []string{"alice@example.org", "bob@example.org"}},
		{`Team: a@x.example, "B" <b@x.example>;, c@x.example`, []string{"a@x.example", "b@x.example", "c@x.example"}},
		{`undisclosed-recipients:;`, []string{}},
		{`<>`, []string{}},
		{`, , alice@example.org,`, []string{"alice@example.org"}},
		{`<@relay.example,@hub.example:alice@example.org>`, []string{"alice@example.org"}},
		{`"john q"@example.org`, []string{`"john q"@example.org`}},
		{`"a\"b"@example.org`, []string{`"a\"b"@example.org`}},
		{`first.last@sub.example.org`, []string{"first.last@sub.example.org"}},
		{`alice@[192.0.2.1]`, []string{"alice@[192.0.2.1]"}},
		{`=?utf-8?q?J=C3=B6rg?= <joerg@example.org>`, []string{"joerg@example.org"}},
		{`Jörg <jörg@bücher.example>`, []string{"jörg@bücher.example"}},
		{`(a (nested) comment) alice@example.org`, []string{"alice@example.org"}},
		{`alice(comment)@example.org`, nil},
		{`alice @ example.org`, nil},
		{`alice@example.org.`, nil},
		{`root`, nil},
		{`Alice <alice@example.org`, nil},
		{`Alice alice@example.org>`, nil},
		{`"unterminated <a@b.example>`, nil},
		{`(unterminated <a@b.example>`, nil},
		{`a@[1.2.3.4`, nil},
		{`a@b.example; c@d.example`, nil},
		{`Team: a@x.example`, nil},
		{`A: B: a@x.example;;`, nil},
		{"a@b.example\x00", nil},
		{`a\b@example.org`, nil},
		{`<alice@example.org> <bob@example.org>`, nil},
		{``, []string{}},
	} {
		spans, ok := addrSpecs(tc.v)
		if ok != (tc.want != nil) {
			t.Errorf("addrSpecs(%q): ok = %v, want %v", tc.v, ok, tc.want != nil)
			continue
		}
		got := []string{}
		for _, s := range spans {
			got = append(got, tc.v[s.start:s.end])
		}
		if ok && !slices.Equal(got, tc.want) {
			t.Errorf("addrSpecs(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

// FuzzAddrSpecs: whatever a header field holds, the spans found are in
// order, inside the value, each an addr-spec with its "@", and replacing
// each by another address leaves a value with as many addresses, in the
// same place: a rewrite changes the addresses and nothing else.
func FuzzAddrSpecs(f *testing.F) {
	for _, s := range []string{`"Smith, John" <john@example.org>, bob@example.org (Bob)`, `T: a@x, <@r:b@y>;`, `<>`, `a(b)@c`, "A\r\n <a@b>", `"a\"@b" <c@[1.2.3.4]>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		spans, ok := addrSpecs(v)
		if !ok {
			return
		}
		var b strings.Builder
		last := 0
		for _, s := range spans {
			if s.start < last || s.end <= s.start || s.end > len(v) || !strings.Contains(v[s.start:s.end], "@") {
				t.Fatalf("addrSpecs(%q): bad span %v after %d", v, s, last)
			}
			b.WriteString(v[last:s.start] + "new.user@new.example")
			last = s.end
		}
		b.WriteString(v[last:])
		again, ok := addrSpecs(b.String())
		if !ok || len(again) != len(spans) {
			t.Fatalf("addrSpecs(%q) found %d; after the rewrite %q: ok %v, %d", v, len(spans), b.String(), ok, len(again))
		}
		for _, s := range again {
			if got := b.String()[s.start:s.end]; got != "new.user@new.example" {
				t.Fatalf("after the rewrite %q: found %q", b.String(), got)
			}
		}
	})
}
