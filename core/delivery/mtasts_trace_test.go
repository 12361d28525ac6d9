package delivery

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// deliveries returns the delivery events of id's trace.
func (h *harness) deliveries(id string) []pipeline.DeliveryEvent {
	h.t.Helper()
	raw, err := h.q.Trace(id)
	if err != nil {
		h.t.Fatalf("trace of %s: %v", id, err)
	}
	var tr pipeline.Trace
	if err := json.Unmarshal(raw, &tr); err != nil {
		h.t.Fatalf("trace %s: %v", raw, err)
	}
	return tr.Deliveries
}

func TestTraceShowsMTASTSEnforceCertificateFailure(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	logs := recordLog(h)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptPending {
		t.Fatalf("%+v, want deferred", r)
	}
	evs := h.deliveries(id)
	if len(evs) != 1 {
		t.Fatalf("%d delivery events, want 1: %+v", len(evs), evs)
	}
	e := evs[0]
	if e.Result != "deferred" || e.MTASTS != "enforce: certificate not verified" || e.Via != "" || e.Attempt != 1 ||
		e.Destination != "dest.test" || len(e.Recipients) != 1 || e.Recipients[0] != "r@dest.test" ||
		!strings.Contains(e.Reply, "certificate") {
		t.Fatalf("event %+v", e)
	}
	if l := logs.String(); !strings.Contains(l, `mta_sts="enforce: certificate not verified"`) {
		t.Errorf("the MTA-STS outcome is not on the attempt's log line:\n%s", l)
	}

	// The next attempt adds its own event.
	h.retryAfter(5 * time.Minute)
	h.recorded(id)
	if evs := h.deliveries(id); len(evs) != 2 || evs[1].Attempt != 2 || evs[1].MTASTS != "enforce: certificate not verified" {
		t.Fatalf("after the retry: %+v", evs)
	}
}

func TestTraceShowsMTASTSEnforceOK(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsEnforce)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("mx.dest.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	h.recorded(id)
	evs := h.deliveries(id)
	if len(evs) != 1 {
		t.Fatalf("%d delivery events, want 1: %+v", len(evs), evs)
	}
	if e := evs[0]; e.Result != "delivered" || e.MTASTS != "enforce: ok" || e.TLS != "TLS1.3" ||
		!strings.HasPrefix(e.Via, "mx.dest.test[127.0.0.1]:") || !strings.HasPrefix(e.Reply, "250 ") {
		t.Fatalf("event %+v", e)
	}
}

// In testing mode a certificate that enforce mode would refuse is used
// anyway: delivered, with the failure in the log and in the trace.
func TestTraceShowsMTASTSTestingDelivered(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	logs := recordLog(h)
	h.useDNS(nil, stsZone...)
	startSTS(t, h, ca, stsTesting)
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	if r := rcpt(h.recorded(id), "r@dest.test"); r.Status != envelope.RcptDelivered {
		t.Fatalf("%+v, want delivered in testing mode", r)
	}
	evs := h.deliveries(id)
	if len(evs) != 1 {
		t.Fatalf("%d delivery events, want 1: %+v", len(evs), evs)
	}
	if e := evs[0]; e.Result != "delivered" || e.MTASTS != "testing: certificate not verified" || e.TLS != "TLS1.3" ||
		!strings.HasPrefix(e.Via, "mx.dest.test[127.0.0.1]:") {
		t.Fatalf("event %+v", e)
	}
	if l := logs.String(); !strings.Contains(l, `mta_sts="testing: certificate not verified"`) || !strings.Contains(l, "tls=TLS1.3") {
		t.Errorf("the outcome is not on the attempt's log line:\n%s", l)
	}
	if l := logs.String(); !strings.Contains(l, "MTA-STS testing: certificate would fail enforce mode") || !strings.Contains(l, "host=mx.dest.test") {
		t.Errorf("the failure is not reported in the log:\n%s", l)
	}
}

func TestTraceShowsNoMTASTSPolicy(t *testing.T) {
	h := newHarness(t)
	ca := testlib.NewCA(t)
	h.useDNS(nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1")
	startSTS(t, h, ca, stsEnforce) // served, but no TXT record points to it
	s := h.sinkAt("127.0.0.1", sinkOptions{tls: ca.ServerConfig("wrong.test")})
	h.start()
	id := h.enqueue(msg("s@origin.test", "r@dest.test"))
	waitMsg(t, s)
	h.recorded(id)
	if evs := h.deliveries(id); len(evs) != 1 || evs[0].MTASTS != "none" || evs[0].TLS != "TLS1.3" || evs[0].Result != "delivered" {
		t.Fatalf("events %+v", evs)
	}
}

func TestAttemptTraceSummary(t *testing.T) {
	var none *attemptTrace
	if tl, sts := none.summary("mx[1.2.3.4:25]"); tl != "" || sts != "" {
		t.Errorf("nil trace: %q %q", tl, sts)
	}
	tr := &attemptTrace{}
	tr.policy("enforce", true)
	if _, sts := tr.summary(""); sts != "enforce: no MX host in policy" {
		t.Errorf("no MX: %q", sts)
	}
	tr = &attemptTrace{}
	tr.policy("testing", false)
	tr.notInPolicy("rogue.test")
	tr.host("rogue.test").started = true // STARTTLS failed, then plaintext
	if tl, sts := tr.summary("rogue.test[1.2.3.4:25]"); tl != "none" || sts != "testing: STARTTLS failed; MX host not in policy" {
		t.Errorf("testing, plaintext fallback: %q %q", tl, sts)
	}
	if tl, sts := tr.summary("other.test[1.2.3.5:25]"); tl != "" || sts != "testing: TLS not checked (pooled session or no STARTTLS)" {
		t.Errorf("testing, no handshake seen: %q %q", tl, sts)
	}
}

// The TLS version is on the attempt's log line and in its trace event for
// every kind of hop, not only for MX hosts under MTA-STS: a smarthost
// (relay) and an MX host without MTA-STS checking; a STARTTLS that failed
// before the plaintext retry shows as "none".
func TestAttemptShowsTLSWithoutMTASTS(t *testing.T) {
	ca := testlib.NewCA(t)
	for _, tc := range []struct {
		name   string
		relay  bool
		tls    *tls.Config
		client *tls.Config // the agent's TLS config; nil: the default
		want   string
	}{
		{"relay", true, ca.ServerConfig("sink.test"), nil, "TLS1.3"},
		{"mx", false, ca.ServerConfig("sink.test"), nil, "TLS1.3"},
		{"relay-tls12", true, &tls.Config{Certificates: ca.ServerConfig("sink.test").Certificates, MaxVersion: tls.VersionTLS12}, nil, "TLS1.2"},
		{"relay-plaintext", true, nil, nil, ""},
		// The handshake fails (no common version), the retry is in plaintext.
		{"relay-starttls-failed", true, &tls.Config{Certificates: ca.ServerConfig("sink.test").Certificates, MaxVersion: tls.VersionTLS12},
			&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}, "none"},
		// The server aborts the handshake after the client has checked
		// its certificate (here: it wants one from the client; OpenSMTPD
		// 6.8 sent "internal error" there when its key would not sign):
		// the retry is in plaintext all the same.
		{"relay-starttls-aborted", true, &tls.Config{Certificates: ca.ServerConfig("sink.test").Certificates, MaxVersion: tls.VersionTLS12,
			ClientAuth: tls.RequireAnyClientCert}, nil, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			logs := recordLog(h)
			s := h.sinkAt("127.0.0.1", sinkOptions{tls: tc.tls})
			h.opt.TLSConfig = tc.client
			if tc.relay {
				h.opt.Config.Relay = s.addr
			} else {
				h.useDNS(nil, "dest.test. MX 10 mx.dest.test.", "mx.dest.test. A 127.0.0.1")
			}
			h.start()
			id := h.enqueue(msg("s@origin.test", "r@dest.test"))
			waitMsg(t, s)
			h.recorded(id)
			evs := h.deliveries(id)
			if len(evs) != 1 || evs[0].Result != "delivered" || evs[0].TLS != tc.want || evs[0].MTASTS != "" {
				t.Fatalf("events %+v, want one delivered with TLS %q and no MTA-STS outcome", evs, tc.want)
			}
			if l := logs.String(); !strings.Contains(l, fmt.Sprintf("tls=%q", tc.want)) && !strings.Contains(l, "tls="+tc.want+" ") {
				t.Errorf("tls=%s is not on the attempt's log line:\n%s", tc.want, l)
			}
		})
	}
}
