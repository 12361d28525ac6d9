package delivery

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/queue"
)

// TestParseTLSRPTMailtoForms: a mailto: URI's addresses are each a
// destination (RFC 6068 §2: comma-separated, the comma percent-encoded
// as RFC 8460 §3 has it inside a rua URI, and "to" header fields), up to
// tlsrptMaxRUA in all, an address counted once whatever its domain's
// case; what RFC 8460 does not allow (a DMARC-style !size suffix, a
// bare address after a literal comma) is ignored and named.
func TestParseTLSRPTMailtoForms(t *testing.T) {
	for _, c := range []struct {
		rua     string
		want    []string
		ignored []string // substrings, one per ignored entry
	}{
		{"mailto:a@x.test%2Cb@y.test", []string{"mailto:a@x.test", "mailto:b@y.test"}, nil},
		{"mailto:a@x.test%2cb%40y.test", []string{"mailto:a@x.test", "mailto:b@y.test"}, nil},
		{"mailto:a@x.test?to=b@y.test%2Cc@z.test&subject=hi", []string{"mailto:a@x.test", "mailto:b@y.test", "mailto:c@z.test"}, nil},
		{"mailto:?To=a@x.test", []string{"mailto:a@x.test"}, nil},
		{"mailto:a@x.test%2Cnobody", []string{"mailto:a@x.test"}, []string{`"nobody" is not an address`}},
		// Percent-decoding may yield what no RCPT TO carries (RFC 5321
		// §4.1.2): a control character, a ";" outside quotes, bytes
		// that are not UTF-8.
		{"mailto:a%00b@x.test%2Cc%3Bd@x.test, mailto:%FF@x.test, mailto:ok@x.test", []string{"mailto:ok@x.test"},
			[]string{`"a\x00b@x.test" is not an address`, `"c;d@x.test" is not an address`, `"\xff@x.test" is not an address`}},
		{"mailto:a@x.test,b@y.test", []string{"mailto:a@x.test"}, []string{"b@y.test: not a URI"}},
		{"mailto:a@x.test!10m, https://r.test/x!1k, mailto:c@z.test", []string{"mailto:c@z.test"},
			[]string{"mailto:a@x.test!10m: a '!' must be percent-encoded", "https://r.test/x!1k: a '!'"}},
		{"mailto:a@x.test%2Ca@x.test, mailto:A@x.test", []string{"mailto:a@x.test", "mailto:A@x.test"}, nil},
		// The domain is case-insensitive, the local part is not (RFC
		// 5321 §2.4): one destination, the first as written.
		{"mailto:a@X.TEST, mailto:a@x.test%2CA@x.Test, mailto:a@x.TeSt", []string{"mailto:a@X.TEST", "mailto:A@x.Test"}, nil},
		{"mailto:1@x.test%2C2@x.test%2C3@x.test, https://r.test/, mailto:4@x.test%2C5@x.test%2C6@x.test%2C7@x.test",
			[]string{"mailto:1@x.test", "mailto:2@x.test", "mailto:3@x.test", "https://r.test/", "mailto:4@x.test"},
			[]string{"3 more destinations: over the limit of 5"}},
		{"http://r.test/, mailto:", nil, []string{"http://r.test/: neither", "mailto:: no address"}},
	} {
		got, ignored := parseTLSRPT([]string{"v=TLSRPTv1; rua=" + c.rua})
		if !slices.Equal(got, c.want) {
			t.Errorf("rua=%s: %q, want %q", c.rua, got, c.want)
		}
		if len(ignored) != len(c.ignored) {
			t.Errorf("rua=%s: ignored %q, want %d like %q", c.rua, ignored, len(c.ignored), c.ignored)
			continue
		}
		for i, w := range c.ignored {
			if !strings.Contains(ignored[i], w) {
				t.Errorf("rua=%s: ignored[%d] %q, want it to say %q", c.rua, i, ignored[i], w)
			}
		}
	}
}

// enqueuedQueue is the harness's queue, keeping what was enqueued.
type enqueuedQueue struct {
	*watchedQueue
	got []queue.Queued
}

func (q *enqueuedQueue) EnqueueMany(qs []queue.Queued) error {
	q.got = append(q.got, qs...)
	return q.watchedQueue.EnqueueMany(qs)
}

// TestTLSRPTMailtoSeveralAddresses: a day's report to a record whose
// mailto: URI names two addresses (the comma as %2C) is one message to
// both; the !size URI beside it is logged as ignored.
func TestTLSRPTMailtoSeveralAddresses(t *testing.T) {
	h := newHarness(t)
	h.useDNS(nil, `_smtp._tls.dest.test. TXT "v=TLSRPTv1; rua=mailto:a@reports.test%2Cb@reports.test,mailto:c@reports.test!10m"`)
	r := tlsReportsFor(h, "")
	q := &enqueuedQueue{watchedQueue: h.q}
	r.opt.Queue = q
	var logs bytes.Buffer
	r.opt.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	r.add(newRPTPolicy(rptTypeNone, "dest.test", nil, nil), nil)
	if !r.sendDomain(context.Background(), dayOf(h.clock.Now()), "dest.test") {
		t.Fatal("sendDomain: not done")
	}
	if len(q.got) != 1 {
		t.Fatalf("%d messages queued, want 1", len(q.got))
	}
	var rcpts []string
	for _, rc := range q.got[0].Msg.Rcpts {
		rcpts = append(rcpts, rc.Addr)
	}
	if !slices.Equal(rcpts, []string{"a@reports.test", "b@reports.test"}) {
		t.Errorf("report queued to %q, want both addresses of the mailto: URI", rcpts)
	}
	if !strings.Contains(logs.String(), "rua entries of the TLSRPT record ignored") || !strings.Contains(logs.String(), "c@reports.test!10m") {
		t.Errorf("log %q: want the !10m URI named as ignored", logs.String())
	}
}
