package daemon

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestDMARCAggregateReports: the dmarc plugin's aggregate reports (RFC
// 7489 §7.2) the whole way through a daemon. Mail from a.test (SPF
// pass, aligned) and b.test (no SPF; SPF of a.test, not aligned), whose
// _dmarc records ask for rua=mailto:agg@reports.test, which takes them
// (a.test._report._dmarc.reports.test, §7.1), is recorded in the stage's
// state directory; c.test asks for no reports. The daemon stops, the
// day's history is moved three days back (the day is over, whatever
// random part of the two hours after midnight the next process draws),
// and the daemon starts again: the plugin's sender finds the finished day
// at once and the sink receives one report per policy domain, from <>,
// signed by the dkim sign stage, its gzipped XML with the counts of the
// mail sent; the day's history is removed, and `sluice trace` of a
// report names the dmarc stage and the signature.
func TestDMARCAggregateReports(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	keyFile, keyRecord := signingKey(t, dir, "sluice.test")
	dns := testlib.NewDNS(t, keyRecord,
		`a.test. 60 IN TXT "v=spf1 ip4:127.0.0.1 -all"`,
		`_dmarc.a.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@reports.test"`,
		`_dmarc.b.test. 60 IN TXT "v=DMARC1; p=none; rua=mailto:agg@reports.test"`,
		`_dmarc.c.test. 60 IN TXT "v=DMARC1; p=none"`,
		`a.test._report._dmarc.reports.test. 60 IN TXT "v=DMARC1"`,
		`b.test._report._dmarc.reports.test. 60 IN TXT "v=DMARC1"`)
	sink := testlib.NewSink(t, "127.0.0.1:0")
	data := filepath.Join(dir, "data")
	src := site{DataDir: data, DNS: dns.Addr, Relay: sink.Addr, SignKey: keyFile, Stages: `
[[stage]]
name = "spf"
plugin = "spf"
[stage.config]
skip_networks = []
[[stage]]
name = "dmarc"
plugin = "dmarc"
[stage.config]
skip_networks = []
[stage.config.reports]
org_name = "Sluice Test"
email    = "dmarc-reports@sluice.test"
`}.config()
	logs := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	start := func() *Daemon {
		t.Helper()
		d, err := Start(Options{Config: mustParse(t, src), Logger: slog.New(slog.NewJSONHandler(logs, nil)), Self: self})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := start()
	defer func() { _ = d.Stop() }()

	mails := []struct{ mailFrom, from string }{
		{"alice@a.test", "alice@a.test"},
		{"alice@a.test", "alice@a.test"},
		{"alice@a.test", "alice@a.test"},
		{"bob@b.test", "bob@b.test"},
		{"alice@a.test", "bob@b.test"},
		{"carol@c.test", "carol@c.test"},
	}
	for i, m := range mails {
		subject := fmt.Sprint("dmarc ", i)
		if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), m.mailFrom, []string{"postmaster@sluice.test"},
			testlib.Message(m.from, "postmaster@sluice.test", subject, "body of "+subject)); err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
	}
	sink.WaitN(t, len(mails), 20*time.Second)
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}

	// The day is over: its history (today's, and tomorrow's should the
	// test have run over midnight UTC) becomes that of three days ago.
	stateDir := filepath.Join(data, "plugins", "dmarc")
	day := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour)
	old := filepath.Join(stateDir, "history-"+day.Format(time.DateOnly)+".jsonl")
	names, _ := filepath.Glob(filepath.Join(stateDir, "history-*.jsonl"))
	var history []byte
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		history = append(history, b...)
		if err := os.Remove(n); err != nil {
			t.Fatal(err)
		}
	}
	if n := bytes.Count(history, []byte("\n")); n != 5 {
		t.Fatalf("history in %v: %d lines, want 5 (a.test 3, b.test 2, c.test none):\n%s", names, n, history)
	}
	if err := os.WriteFile(old, history, 0o600); err != nil {
		t.Fatal(err)
	}

	d = start()
	// The stage's first message tells the plugin the core runs and takes
	// its mail: the sender's first pass waits for it.
	if _, err := testlib.Send(d.SMTPAddrs()["mx"].String(), "alice@a.test", []string{"postmaster@sluice.test"},
		testlib.Message("alice@a.test", "postmaster@sluice.test", "after the restart", "hello")); err != nil {
		t.Fatal(err)
	}
	var reports []testlib.Delivery
	deadline := time.Now().Add(30 * time.Second)
	for len(reports) < 2 {
		reports = slices.DeleteFunc(slices.Clone(sink.Deliveries()), func(dl testlib.Delivery) bool {
			return !slices.Equal(dl.Rcpts, []string{"agg@reports.test"})
		})
		if len(reports) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reports reached the sink, want 2; log:\n%s", len(reports), logs)
		}
		sink.WaitN(t, len(sink.Deliveries())+1, time.Until(deadline))
	}

	got := map[string]dmarcFeedback{}
	for _, r := range reports {
		msg := string(r.Data)
		if r.From != "" {
			t.Errorf("report from <%s>, want the null sender:\n%s", r.From, msg)
		}
		if err := sluiceSigned(t, dns.Addr, msg); err != nil {
			t.Errorf("report: %v:\n%s", err, msg)
		}
		fb := reportXML(t, r.Data)
		if _, dup := got[fb.Policy.Domain]; dup {
			t.Errorf("two reports about %s", fb.Policy.Domain)
		}
		got[fb.Policy.Domain] = fb
	}
	if len(reports) != 2 || len(got) != 2 {
		t.Fatalf("reports about %v, want a.test and b.test", slices.Sorted(maps.Keys(got)))
	}
	type row struct{ ip, from, envFrom, spf, spfResult string }
	want := map[string]map[row]int{
		"a.test": {{"127.0.0.1", "a.test", "a.test", "pass", "pass"}: 3},
		"b.test": {{"127.0.0.1", "b.test", "b.test", "fail", "none"}: 1, {"127.0.0.1", "b.test", "a.test", "fail", "pass"}: 1},
	}
	for domain, rows := range want {
		fb := got[domain]
		if fb.Metadata.OrgName != "Sluice Test" || fb.Metadata.Email != "dmarc-reports@sluice.test" ||
			fb.Metadata.Begin != day.Unix() || fb.Metadata.End != day.Add(24*time.Hour-time.Second).Unix() {
			t.Errorf("%s: metadata %+v, want Sluice Test's of %s", domain, fb.Metadata, day.Format(time.DateOnly))
		}
		seen := map[row]int{}
		for _, r := range fb.Records {
			if r.Row.Evaluated.Disposition != "none" || r.Row.Evaluated.DKIM != "fail" || len(r.AuthResults.SPF) != 1 {
				t.Errorf("%s: record %+v, want disposition none, dkim fail, one spf result", domain, r)
				continue
			}
			seen[row{r.Row.SourceIP, r.Identifiers.HeaderFrom, r.Identifiers.EnvelopeFrom, r.Row.Evaluated.SPF, r.AuthResults.SPF[0].Result}] += r.Row.Count
		}
		if fmt.Sprint(seen) != fmt.Sprint(rows) {
			t.Errorf("%s: rows %v, want %v", domain, seen, rows)
		}
	}

	// The day is done: its history and progress are gone.
	for {
		left, _ := filepath.Glob(filepath.Join(stateDir, "*-"+day.Format(time.DateOnly)+".json*"))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the day's files are left after its reports: %v", left)
		}
		<-time.After(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}

	// The core's log names each report's queue id; its trace names the
	// stage that sent it and the signature the bounce hook added.
	ids := queuedPluginMail(t, logs, "dmarc")
	if len(ids) != 2 {
		t.Fatalf("plugin mail queued by dmarc: %v, want two; log:\n%s", ids, logs)
	}
	for _, id := range ids {
		out, err := exec.Command(self, "trace", id, "--admin", d.AdminAddr().String()).CombinedOutput()
		if err != nil {
			t.Fatalf("sluice trace %s: %v\n%s", id, err, out)
		}
		if !strings.Contains(string(out), "message "+id+": queued by stage dmarc\n") ||
			!strings.Contains(string(out), "dkim-sign  bounce") || !strings.Contains(string(out), "DKIM-Signature") {
			t.Errorf("sluice trace %s:\n%s\nwant queued by stage dmarc, signed by dkim-sign at the bounce hook", id, out)
		}
	}
}

// dmarcFeedback is the part of an aggregate report (RFC 7489 Appendix
// C) the test reads.
type dmarcFeedback struct {
	Metadata struct {
		OrgName string `xml:"org_name"`
		Email   string `xml:"email"`
		Begin   int64  `xml:"date_range>begin"`
		End     int64  `xml:"date_range>end"`
	} `xml:"report_metadata"`
	Policy struct {
		Domain string `xml:"domain"`
		P      string `xml:"p"`
	} `xml:"policy_published"`
	Records []struct {
		Row struct {
			SourceIP  string `xml:"source_ip"`
			Count     int    `xml:"count"`
			Evaluated struct {
				Disposition string `xml:"disposition"`
				DKIM        string `xml:"dkim"`
				SPF         string `xml:"spf"`
			} `xml:"policy_evaluated"`
		} `xml:"row"`
		Identifiers struct {
			EnvelopeFrom string `xml:"envelope_from"`
			HeaderFrom   string `xml:"header_from"`
		} `xml:"identifiers"`
		AuthResults struct {
			SPF []struct {
				Domain string `xml:"domain"`
				Result string `xml:"result"`
			} `xml:"spf"`
		} `xml:"auth_results"`
	} `xml:"record"`
}

// reportXML reads the gzipped XML attachment of the report msg.
func reportXML(t *testing.T, msg []byte) dmarcFeedback {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("report of type %q (%v):\n%s", mt, err, msg)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/gzip part (%v):\n%s", err, msg)
		}
		if ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct != "application/gzip" {
			continue
		}
		if !strings.HasSuffix(p.FileName(), ".xml.gz") {
			t.Errorf("attachment named %q, want SUBMITTER!DOMAIN!BEGIN!END.xml.gz", p.FileName())
		}
		zr, err := gzip.NewReader(base64.NewDecoder(base64.StdEncoding, p))
		if err != nil {
			t.Fatal(err)
		}
		var fb dmarcFeedback
		if err := xml.NewDecoder(zr).Decode(&fb); err != nil {
			t.Fatal(err)
		}
		return fb
	}
}

// queuedPluginMail lists the queue ids of the core's "plugin mail:
// queued" log lines for stage.
func queuedPluginMail(t *testing.T, logs *lockedBuffer, stage string) []string {
	t.Helper()
	var ids []string
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			ID    string `json:"id"`
			Stage string `json:"stage"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "plugin mail: queued" && rec.Stage == stage {
			ids = append(ids, rec.ID)
		}
	}
	return ids
}

// lockedBuffer is a bytes.Buffer the daemon's goroutines log to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
