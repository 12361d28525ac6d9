package spf

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// FuzzRecord parses a TXT record as a hostile domain publishes it (RFC
// 7208 §4.5, §12) and expands its macros (§7) for a hostile sender: never
// a panic, and an expansion never larger than its bound.
func FuzzRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24//64 include:_spf.%{d} -all",
		"v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} redirect=%{d2}.example exp=explain.%{o}",
		"v=spf1 a:%{S}%{L}%{O}%{D}%{I}%{P}%{V}%{H}.example ?all",
		"v=spf1 ptr:%{d}.example ~all x-mod=%{c}%{r}%{t}%%%_%-",
		"v=spf1 a:%{l128r.-+,/_=}.example a:%{l0}.example",
		"v=spf1 ip4:1.2.3.4/032 mx:/ all:x",
	} {
		f.Add(s, "user+tag@sender.example", "::ffff:192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, txt, sender, ip string) {
		if !isSPFRecord(txt) {
			txt = "v=spf1 " + txt
		}
		rec, err := parseRecord(txt)
		if err != nil {
			return
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			addr = netip.MustParseAddr("192.0.2.1")
		}
		local, domain, _ := strings.Cut(sender, "@")
		env := &macroEnv{sender: sender, local: local, senderDomain: domain, domain: domain, ip: addr,
			helo: domain, receiver: "mx.sluice.test", now: time.Unix(0, 0), ptr: func() string { return "ptr.example" }}
		specs := []*macroString{rec.redirect, rec.exp}
		for _, m := range rec.mechs {
			specs = append(specs, m.domain)
			if (m.kind == mechIP4 || m.kind == mechIP6) && !m.prefix.IsValid() {
				t.Fatalf("%q: invalid prefix", m.term)
			}
		}
		for _, ms := range specs {
			if ms == nil {
				continue
			}
			if s := ms.expand(env); len(s) > maxExpansion {
				t.Fatalf("%q expands to %d bytes", ms.src, len(s))
			}
			if s, _ := ms.expandTail(env, maxDomain); len(s) > maxDomain {
				t.Fatalf("%q: tail of %d bytes", ms.src, len(s))
			}
		}
	})
}

// FuzzReceivedSPF renders Received-SPF (RFC 7208 §9.1) for a hostile HELO
// name, sender and mechanism: the value is printable ASCII on one line,
// its comment's parentheses balanced (RFC 5322 §3.2.2).
func FuzzReceivedSPF(f *testing.F) {
	f.Add("mx.example", "a@example.org", "ip4:192.0.2.0/24", "bad record", true)
	f.Add("x)\r\nBcc: y", "\"a b\"@(c)", "a:%{l}\\", "\xff\x00(", false)
	f.Fuzz(func(t *testing.T, helo, sender, mech, problem string, mailfrom bool) {
		id := identity{name: "helo", domain: helo}
		if mailfrom {
			id = identity{name: "mailfrom", sender: sender, domain: sender}
		}
		for _, res := range []Result{Pass, Fail, Softfail, Neutral, None, TempError, PermError} {
			v := receivedSPF(check{id: id, out: Outcome{Result: res, Mechanism: mech, Problem: problem}},
				netip.MustParseAddr("2001:db8::1"), helo, "mx.sluice.test")
			for i := 0; i < len(v); i++ {
				if v[i] < ' ' || v[i] > '~' {
					t.Fatalf("byte %#x in %q", v[i], v)
				}
			}
			depth, quoted := 0, false
			for i := 0; i < len(v); i++ {
				switch c := v[i]; {
				case c == '\\':
					i++
				case c == '"' && depth == 0:
					quoted = !quoted
				case quoted:
				case c == '(':
					depth++
				case c == ')':
					depth--
				}
				if depth < 0 {
					t.Fatalf("unbalanced comment in %q", v)
				}
			}
			if depth != 0 || quoted {
				t.Fatalf("unclosed comment in %q", v)
			}
		}
	})
}
