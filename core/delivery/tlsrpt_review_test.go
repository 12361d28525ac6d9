package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestTLSRPTDetailsBounded: failure details count towards the day's
// tlsrptMaxBytes as policies do, for the receiving servers choose their
// text (here a long greeting name each): past the bound a failure is
// counted in its policy's summary only.
func TestTLSRPTDetailsBounded(t *testing.T) {
	h := newHarness(t)
	r := tlsReportsFor(h, "")
	helo := strings.Repeat("h", 4000)
	const domains, each = 100, tlsrptMaxDetails // 25 MB of greetings in all
	for i := range domains {
		p := newRPTPolicy(rptTypeNone, fmt.Sprintf("d%d.test", i), nil, nil)
		for j := range each {
			r.add(p, &tlsrptFailure{ResultType: rptStartTLSNotSupported, MXHostname: "mx.test",
				MXHelo: fmt.Sprintf("%d.%d.%s", i, j, helo), Count: 1})
		}
	}
	held, failures := 0, int64(0)
	for _, rep := range r.Today() {
		for _, res := range rep.(*tlsReport).Policies {
			failures += res.Summary.Failure
			for _, f := range res.FailureDetails {
				held += f.size()
			}
		}
	}
	if held > tlsrptMaxBytes {
		t.Errorf("failure details hold %d bytes, over the bound of %d", held, tlsrptMaxBytes)
	}
	if failures != domains*each {
		t.Errorf("summaries count %d failures, want all %d", failures, domains*each)
	}
}

// TestTLSRPTFileWithNulls: a saved file with null results or failure
// details (edited by hand) does not crash the start or a later count;
// the nulls are dropped and the rest kept.
func TestTLSRPTFileWithNulls(t *testing.T) {
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	const saved = `{"version":1,"days":{"2026-03-01":{"dest.test":{"id":"abc1","results":[null,
		{"policy":{"policy-type":"no-policy-found","policy-domain":"dest.test"},
		 "summary":{"total-successful-session-count":1,"total-failure-session-count":1},
		 "failure-details":[null,{"result-type":"starttls-not-supported","receiving-mx-hostname":"mx.dest.test","failed-session-count":1}]}]}}}}`
	if err := os.WriteFile(path, []byte(saved), 0o600); err != nil {
		t.Fatal(err)
	}
	r := tlsReportsFor(h, path)
	p := newRPTPolicy(rptTypeNone, "dest.test", nil, nil)
	r.add(p, &tlsrptFailure{ResultType: rptStartTLSNotSupported, MXHostname: "mx.dest.test", Count: 1})
	res := onlyResult(t, todays(t, r))
	if res.Summary != (tlsrptSummary{Success: 1, Failure: 2}) || len(res.FailureDetails) != 1 || res.FailureDetails[0].Count != 2 {
		t.Errorf("%+v, want the saved counts and one more failure", res)
	}
}

// TestTLSRPTSTSHostNotInPolicy: an MX host that the MTA-STS policy's mx
// patterns do not list fails the policy (RFC 8461 §4.1): in testing
// mode the session that delivers anyway is a failure, not a success; in
// enforce mode the host skipped is one. Both are validation-failure with
// the reason.
func TestTLSRPTSTSHostNotInPolicy(t *testing.T) {
	for _, mode := range []string{"testing", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t)
			ca := testlib.NewCA(t)
			h.useDNS(nil, stsZone...)
			startSTS(t, h, ca, "version: STSv1\nmode: "+mode+"\nmx: mx2.dest.test\nmax_age: 86400\n")
			r := tlsReportsFor(h, "")
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			if mode == "testing" {
				waitMsg(t, s)
			} else if got := rcpt(h.recorded(id), "r@dest.test"); got.Status != envelope.RcptPending {
				t.Fatalf("%+v, want deferred", got)
			}
			res := onlyResult(t, todays(t, r))
			if res.Policy.Type != "sts" || res.Summary != (tlsrptSummary{Failure: 1}) || len(res.FailureDetails) != 1 {
				t.Fatalf("%+v, want one failure under the sts policy", res)
			}
			if f := res.FailureDetails[0]; f.ResultType != rptValidationFailure || f.MXHostname != "mx.dest.test" ||
				f.ReasonCode != "MX host not in the MTA-STS policy" {
				t.Errorf("failure %+v", f)
			}
		})
	}
}

// TestTLSRPTPolicyCachedBeforeReload: an MTA-STS policy fetched while
// tls_rpt was off, still cached when a reload turns it on (the
// successor agent shares the cache), is reported with its text.
func TestTLSRPTPolicyCachedBeforeReload(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	sts := startSTS(t, h, ca, stsEnforce)
	before := New(h.q, h.opt) // tls_rpt off
	if p, _ := before.stsPolicy(context.Background(), "dest.test", true); p == nil || p.mode != "enforce" {
		t.Fatalf("policy %+v", p)
	}
	r := tlsReportsFor(h, "")
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
	h.startWith(func(a *Agent) { a.rt.sts = before.rt.sts })
	h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	if n := sts.count(); n != 1 {
		t.Errorf("policy fetched %d times, want once: the cached one serves", n)
	}
	res := onlyResult(t, todays(t, r))
	want := []string{"version: STSv1", "mode: enforce", "mx: mx.dest.test", "max_age: 86400"}
	if res.Policy.Type != "sts" || !slices.Equal(res.Policy.String, want) {
		t.Errorf("policy %+v, want the sts policy with its text %q", res.Policy, want)
	}
}
