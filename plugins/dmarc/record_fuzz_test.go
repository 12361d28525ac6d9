package dmarc

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
)

// FuzzRecordAndAuthors reads a hostile DMARC record (RFC 7489 §6.3) and a
// hostile From field (§6.6.1) and evaluates them: no panic, a record's
// policies are the three known ones and pct is 0–100, and author domains
// are distinct, lowercased, trimmed and no more than maxAuthorDomains
// (a name that is no domain, "..", is looked up and found missing).
func FuzzRecordAndAuthors(f *testing.F) {
	f.Add("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=50; rua=mailto:x@y", "Alice <alice@example.org>", "example.org")
	f.Add("v=DMARC1;p=bogus;rua=mailto:a@b;pct=-5", "a@b@c, \"x\" <y@Z.EXAMPLE.>", "z.example")
	f.Add("v = DMARC1 ; P=REJECT", "=?utf-8?q?x?= <a@[1.2.3.4]>, undisclosed-recipients:;", "")
	f.Add("v=DMARC1", "@@@", "co.uk")
	f.Fuzz(func(t *testing.T, txt, from, d string) {
		rec, err := ParseRecord(txt)
		if err == nil {
			switch rec.Policy {
			case PolicyNone, PolicyQuarantine, PolicyReject:
			default:
				t.Fatalf("policy %q from %q", rec.Policy, txt)
			}
			switch rec.SubdomainPolicy {
			case "", PolicyNone, PolicyQuarantine, PolicyReject:
			default:
				t.Fatalf("sp %q from %q", rec.SubdomainPolicy, txt)
			}
			if rec.Percent < 0 || rec.Percent > 100 {
				t.Fatalf("pct %d from %q", rec.Percent, txt)
			}
		}
		domains, err := authorDomains(&sdk.Message{Headers: []sdk.Header{{Name: "From", Value: from}}})
		if err != nil {
			return
		}
		if len(domains) > maxAuthorDomains {
			t.Fatalf("%d domains", len(domains))
		}
		seen := map[string]bool{}
		for _, dom := range domains {
			if dom == "" || seen[dom] || dom != strings.ToLower(strings.TrimSpace(dom)) {
				t.Fatalf("domains %q from %q", domains, from)
			}
			seen[dom] = true
			if rec != nil {
				results := []sdk.AuthResult{
					{Method: "dkim", Result: "pass", Props: map[string]string{"header.d": d}},
					{Method: "spf", Result: "temperror", Props: map[string]string{"smtp.mailfrom": "x@" + d}},
				}
				how, res := evaluate(dom, rec, results)
				if res != ResultPass && res != ResultFail && res != ResultTempError {
					t.Fatalf("result %q (%s)", res, how)
				}
				if res == ResultPass && !strings.HasSuffix(how, "aligned") {
					t.Fatalf("pass %q", how)
				}
			}
		}
	})
}
