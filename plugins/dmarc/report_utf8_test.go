package dmarc

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestReportUTF8Destination: a rua= address with a UTF-8 local part
// (percent-encoded in the URI, RFC 6068 §2) gets the report in a message
// of its own, its To field in UTF-8 (RFC 6532 §3.2), which the core
// queues as needing SMTPUTF8; the ASCII destinations get theirs in an
// all-ASCII message, which a next hop without SMTPUTF8 takes. In one
// message, the UTF-8 To field kept the report from those hops too. A
// message that failed is tried again alone: the other is not sent twice.
func TestReportUTF8Destination(t *testing.T) {
	d := testlib.NewDNS(t, `_dmarc.utf.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@utf.test,mailto:d%C3%A9p%C3%B4t@utf.test,mailto:b@utf.test"`)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	m := newRecMailer()
	m.fail[2] = true // the UTF-8 destination's first attempt
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, t.TempDir(), m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@utf.test", "a@utf.test")
	at := day0.Add(25 * time.Hour)
	clock.set(at)
	if next := p.reports.pass(context.Background()); !next.Equal(at.Add(reportRetry[0])) {
		t.Errorf("next pass %v, want the retry at %v", next, at.Add(reportRetry[0]))
	}
	clock.set(at.Add(reportRetry[0]))
	p.reports.pass(context.Background())

	sent := m.messages()
	if len(sent) != 2 {
		t.Fatalf("%d messages, want 2 (the ASCII destinations' once, the UTF-8 one's on its retry)", len(sent))
	}
	plain, utf := openReport(t, sent[0]), openReport(t, sent[1])
	if got := strings.Join(plain.msg.To, " "); got != "agg@utf.test b@utf.test" {
		t.Errorf("first message to %s, want the ASCII destinations", got)
	}
	if head, _, _ := bytes.Cut(plain.msg.Message, []byte("\r\n\r\n")); bytes.ContainsFunc(head, func(r rune) bool { return r >= 0x80 }) {
		t.Errorf("the ASCII destinations' header is not ASCII:\n%s", head)
	}
	if got := strings.Join(utf.msg.To, " "); got != "dépôt@utf.test" {
		t.Errorf("second message to %s, want dépôt@utf.test", got)
	}
	if got := utf.header.Get("To"); got != "<dépôt@utf.test>" {
		t.Errorf("UTF-8 message's To field %q", got)
	}
	if a, b := plain.feedback.Metadata.ReportID, utf.feedback.Metadata.ReportID; a != b {
		t.Errorf("one report under two Report-IDs: %s, %s", a, b)
	}
}

// progressMailer records, at each Send, the day's progress file as it
// is on disk then: what a crash during that Send would leave.
type progressMailer struct {
	recMailer
	path     string
	progress []map[string]*domainProgress
}

func (m *progressMailer) Send(ctx context.Context, msg sdk.OutgoingMessage) (string, error) {
	prog := map[string]*domainProgress{}
	if b, err := os.ReadFile(m.path); err == nil {
		_ = json.Unmarshal(b, &prog)
	}
	m.mu.Lock()
	m.progress = append(m.progress, prog)
	m.mu.Unlock()
	return m.recMailer.Send(ctx, msg)
}

// TestReportUTF8ProgressPerMessage: the first of a report's two messages
// is in the progress file before the second is sent, so a crash while
// the second is queued sends the first again no more (it was saved once
// both were tried).
func TestReportUTF8ProgressPerMessage(t *testing.T) {
	d := testlib.NewDNS(t, `_dmarc.utf.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@utf.test,mailto:d%C3%A9p%C3%B4t@utf.test"`)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	dir := t.TempDir()
	m := &progressMailer{recMailer: *newRecMailer(), path: filepath.Join(dir, "progress-"+day0.Format(dayLayout)+".json")}
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@utf.test", "a@utf.test")
	clock.set(day0.Add(25 * time.Hour))
	p.reports.pass(context.Background())
	if len(m.progress) != 2 {
		t.Fatalf("%d messages, want 2", len(m.progress))
	}
	st := m.progress[1]["utf.test"]
	if st == nil || !slices.Equal(st.Sent, []string{"agg@utf.test"}) {
		t.Errorf("progress on disk while the second message was sent: %+v, want agg@utf.test sent", st)
	}
}

// TestReportOldProgressDone: a progress file of the version before
// per-destination progress (no "sent") that has a domain done is read
// as done: an upgrade sends none of that day's reports again.
func TestReportOldProgressDone(t *testing.T) {
	d := testlib.NewDNS(t, `_dmarc.utf.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@utf.test,mailto:d%C3%A9p%C3%B4t@utf.test"`)
	t.Setenv(dnsresolve.EnvServers, d.Addr)
	t.Setenv(dnsresolve.EnvTimeout, "2s")
	dir := t.TempDir()
	m := newRecMailer()
	clock := &fakeClock{t: day0.Add(12 * time.Hour)}
	p := reportingPlugin(t, dir, m, clock, "", false)
	deliver(t, p, "192.0.2.25", "a@utf.test", "a@utf.test")
	old := `{"utf.test":{"done":true}}`
	if err := os.WriteFile(filepath.Join(dir, "progress-"+day0.Format(dayLayout)+".json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	clock.set(day0.Add(25 * time.Hour))
	p.reports.pass(context.Background())
	if n := len(m.messages()); n != 0 {
		t.Errorf("%d messages sent again for a day the old version had done", n)
	}
	if names := leftFiles(dir); len(names) != 0 {
		t.Errorf("files left: %v", names)
	}
}
