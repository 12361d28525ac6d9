package smtpd

import (
	"fmt"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// Past seenAfter recipients, has looks them up in a set, with the same
// rule as the scan: the local part exact, the domain without case.
func TestTxnHasLargeTransaction(t *testing.T) {
	tx := &txn{}
	for i := 0; i < 2*seenAfter; i++ {
		tx.add(envelope.Recipient{Addr: fmt.Sprintf("user%d@Example.ORG", i)})
		if i == seenAfter-1 && tx.seen != nil {
			t.Fatalf("a set for %d recipients", i+1)
		}
	}
	if tx.seen == nil {
		t.Fatal("no set past seenAfter recipients")
	}
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"user0@example.org", true},
		{"user63@EXAMPLE.org", true},
		{"User0@example.org", false}, // local parts compare exactly
		{"user64@example.org", false},
		{`"a b"@example.org`, false},
	} {
		if got := tx.has(tc.addr); got != tc.want {
			t.Errorf("has(%q) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	// The scan of a small transaction agrees.
	small := &txn{}
	small.add(envelope.Recipient{Addr: "user0@Example.ORG"})
	if !small.has("user0@example.org") || small.has("User0@example.org") {
		t.Error("scan disagrees with the set")
	}
}
