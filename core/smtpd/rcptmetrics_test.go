package smtpd

import (
	"testing"

	"github.com/sluice-mta/sluice/core/metrics"
)

// Each RCPT's answer is counted in sluice_smtp_recipients_total: accepted,
// refused (5xx) and tempfailed (4xx), with the reply's enhanced code as the
// reason. The count is taken before the reply is written, so reading it
// after the reply needs no waiting.
func TestRcptMetrics(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, func(o *Options) { o.Metrics = m })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<b@example.org>", "250 2.0.0 I'll make sure <b@example.org> gets this")
	d.cmd("RCPT TO:<x@elsewhere.example>", "554 5.7.1 Relay access denied")
	d.cmd("RCPT TO:<c@example.org>", "250 2.0.0 I'll make sure <c@example.org> gets this")
	d.cmd("RCPT TO:<d@example.org>", "250 2.0.0 I'll make sure <d@example.org> gets this")
	d.cmd("RCPT TO:<e@example.org>", "452 4.5.3 Too many recipients")

	want := map[[3]string]float64{
		{"mx", "accepted", ""}:        3,
		{"mx", "rejected", "5.7.1"}:   1,
		{"mx", "tempfailed", "4.5.3"}: 1,
	}
	got := recipientCounts(t, m)
	if len(got) != len(want) {
		t.Errorf("got series %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sluice_smtp_recipients_total%v = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// recipientCounts reads sluice_smtp_recipients_total from m's registry,
// keyed by listener, outcome and reason.
func recipientCounts(t *testing.T, m *metrics.Metrics) map[[3]string]float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[[3]string]float64{}
	for _, f := range families {
		if f.GetName() != "sluice_smtp_recipients_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			out[[3]string{labels["listener"], labels["outcome"], labels["reason"]}] = s.GetCounter().GetValue()
		}
	}
	return out
}

// Under soft_bounce a refused RCPT is counted as the tempfail the client
// got, as the transaction's count and the log line give it.
func TestRcptMetricsSoftBounce(t *testing.T) {
	m := metrics.New(metrics.Providers{})
	h := start(t, withSoftBounce, func(o *Options) { o.Metrics = m })
	d := h.dial()
	d.ehlo()
	d.cmd("MAIL FROM:<a@example.org>", "250 2.0.0 Roger, accepting mail from <a@example.org>")
	d.cmd("RCPT TO:<x@elsewhere.example>", "454 4.7.1 Relay access denied")
	if got := recipientCounts(t, m); len(got) != 1 || got[[3]string{"mx", "tempfailed", "4.7.1"}] != 1 {
		t.Errorf("got series %v, want [mx tempfailed 4.7.1]:1", got)
	}
}
