package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/internal/testlib"
)

func failureTemplate(subject, text string) string {
	return "failure_template = <<EOF\nSubject: " + subject + "\n\n" + text + "\nEOF\n"
}

// bounceSubject sends a message the sink refuses and returns the
// Subject of the report the sink then gets, the n'th thing it accepts.
func bounceSubject(t *testing.T, d *Daemon, sink *testlib.Sink, n int) string {
	t.Helper()
	if _, err := send(t, d, "doomed", "bad@remote.test"); err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, n, 10*time.Second)[n-1]
	if got.From != "" {
		t.Fatalf("the sink got a message from %q, want a report", got.From)
	}
	for _, l := range strings.Split(string(got.Data), "\r\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			return s
		}
	}
	t.Fatalf("a report without a Subject:\n%s", got.Data)
	return ""
}

// TestBounceTemplateReload: [delivery] bounce_template is read at start
// and again at a reload, also when only the file changed; a file that
// no longer parses refuses the reload with its file:line, and the
// reports keep the template the daemon runs with.
func TestBounceTemplateReload(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnRcpt(func(rcpt string) error {
		if rcpt == "bad@remote.test" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	tpl := filepath.Join(t.TempDir(), "bounce.cf")
	write := func(s string) {
		if err := os.WriteFile(tpl, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(failureTemplate("Bounced one", "Returned by $myhostname."))
	src := reloadBase(filepath.Join(t.TempDir(), "data"), mxListener+fmt.Sprintf("[delivery]\nrelay = %q\nbounce_template = %q\n", sink.Addr, tpl))
	d, _ := startFile(t, src)
	if got := bounceSubject(t, d, sink, 1); got != "Bounced one" {
		t.Fatalf("Subject %q", got)
	}

	write(failureTemplate("Bounced two", "Returned by $myorigin."))
	err := d.ReloadFile()
	if err == nil || !strings.Contains(err.Error(), ": bounce_template: "+tpl+":4: failure_template: undefined $myorigin") {
		t.Fatalf("reload with an unknown $name: %v", err)
	}
	if got := bounceSubject(t, d, sink, 2); got != "Bounced one" {
		t.Errorf("after a refused reload, Subject %q", got)
	}

	write(failureTemplate("Bounced three", "Returned by $myhostname."))
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if got := bounceSubject(t, d, sink, 3); got != "Bounced three" {
		t.Errorf("after a reload that read the edited file, Subject %q", got)
	}
}

// TestBounceTemplateCheck: check-config (Check) and start refuse a file
// that does not parse, at the key's line and the file's; a From address
// of the template's own is no warning but the reports' From.
func TestBounceTemplateCheck(t *testing.T) {
	dir := t.TempDir()
	tpl := filepath.Join(dir, "bounce.cf")
	src := reloadBase(filepath.Join(dir, "data"), mxListener+"[delivery]\nbounce_template = \"bounce.cf\"\n")
	path := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Count(src[:strings.Index(src, "bounce_template")], "\n") + 1
	for _, tc := range []struct{ file, want string }{
		{"", fmt.Sprintf("%s:%d: bounce_template: stat %s: no such file or directory", path, line, tpl)},
		{"failure_template = <<EOF\nCharset: klingon\n\ntext\nEOF\n", fmt.Sprintf("%s:%d: bounce_template: %s:2: failure_template: unknown charset", path, line, tpl)},
	} {
		if tc.file != "" {
			if err := os.WriteFile(tpl, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := Check(c, ""); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Check: %v\nwant %s…", err, tc.want)
		}
		if d, err := Start(Options{Config: c, Logger: discardLog(), DrainTimeout: time.Second}); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			if d != nil {
				_ = d.Stop()
			}
			t.Errorf("Start: %v\nwant %s…", err, tc.want)
		}
	}
	if err := os.WriteFile(tpl, []byte("failure_template = <<EOF\nFrom: Help <help@example.org>\n\ntext\nEOF\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Check(c, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings %q", res.Warnings)
	}
	// The template's From address is the report's, as Postfix's.
	raw, err := SampleReport(c, bounce.Failed, time.Now())
	if err != nil || !strings.Contains(string(raw), "\r\nFrom: Help <help@example.org>\r\n") {
		t.Errorf("%v:\n%s", err, raw)
	}
}
