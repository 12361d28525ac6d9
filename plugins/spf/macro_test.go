package spf

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestMacroExamples checks the expansions listed in RFC 7208 §7.4.
func TestMacroExamples(t *testing.T) {
	env := &macroEnv{
		sender: "strong-bad@email.example.com", local: "strong-bad",
		senderDomain: "email.example.com", domain: "email.example.com",
		ip: netip.MustParseAddr("192.0.2.3"), helo: "mx.example.org",
		receiver: "mx.example.net", now: time.Unix(1700000000, 0),
		ptr: func() string { return "mx.example.org" },
	}
	for in, want := range map[string]string{
		"%{s}":                              "strong-bad@email.example.com",
		"%{o}":                              "email.example.com",
		"%{d}":                              "email.example.com",
		"%{d4}":                             "email.example.com",
		"%{d3}":                             "email.example.com",
		"%{d2}":                             "example.com",
		"%{d1}":                             "com",
		"%{dr}":                             "com.example.email",
		"%{d2r}":                            "example.email",
		"%{l}":                              "strong-bad",
		"%{l-}":                             "strong.bad",
		"%{lr}":                             "strong-bad",
		"%{lr-}":                            "bad.strong",
		"%{l1r-}":                           "strong",
		"%{ir}.%{v}._spf.%{d2}":             "3.2.0.192.in-addr._spf.example.com",
		"%{lr-}.lp._spf.%{d2}":              "bad.strong.lp._spf.example.com",
		"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}":   "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
		"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}":  "3.2.0.192.in-addr.strong.lp._spf.example.com",
		"%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
		"%{p} %{h} %{r} %{t} %{c}":          "mx.example.org mx.example.org mx.example.net 1700000000 192.0.2.3",
		"%{S} %% %_ %-":                     "strong-bad%40email.example.com %   %20",
	} {
		ms, err := parseMacroString(in, true)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if got := ms.expand(env); got != want {
			t.Errorf("%q = %q, want %q", in, got, want)
		}
	}
	env.ip = netip.MustParseAddr("2001:db8::cb01")
	ms, _ := parseMacroString("%{ir}.%{v}._spf.%{d2}", false)
	if got, want := ms.expand(env), "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"; got != want {
		t.Errorf("IPv6 %%{ir} = %q, want %q", got, want)
	}
}

func TestMacroSyntaxErrors(t *testing.T) {
	for _, in := range []string{"%", "foo%", "%x", "%{", "%{d", "%{q}", "%{d0}", "%{d2x}", "%(ir)", "%{c}", "a b"} {
		if _, err := parseMacroString(in, false); err == nil {
			t.Errorf("%q: want a syntax error", in)
		}
	}
	if _, err := parseMacroString("%{c} %{r} %{t}", true); err != nil {
		t.Errorf("c, r, t in an explanation: %v", err)
	}
}

// An explanation (exp=, RFC 7208 §6.2) is rendered only as far as a
// reply can use, however many macros meet however long a local part; a
// domain-spec only its right end (RFC 7208 §7.3), cut as the whole would
// be. Transformer digits past any name's label count are clamped.
func TestMacroExpansionLimits(t *testing.T) {
	env := &macroEnv{local: strings.Repeat("x", 64<<10), domain: "example.org"}
	exp, err := parseMacroString("Not allowed: "+strings.Repeat("%{L}%{l99999999999999999999r} ", 100), true)
	if err != nil {
		t.Fatal(err)
	}
	if got := exp.expand(env); len(got) != maxExpansion || !strings.HasPrefix(got, "Not allowed: xxx") {
		t.Errorf("explanation of %d bytes starting %.20q, want the first %d", len(got), got, maxExpansion)
	}
	spec, err := parseDomainSpec("%{l}.%{l}.%{d}")
	if err != nil {
		t.Fatal(err)
	}
	if got, cut := spec.expandTail(env, 20); !cut || got != "xxxxxxxx.example.org" {
		t.Errorf("tail = %q, %v", got, cut)
	}
}
