package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postfixDefault is Postfix's own bounce.cf.default (postconf -t).
func postfixDefault(t *testing.T) *Templates {
	t.Helper()
	ts, err := LoadTemplates(filepath.Join("testdata", "bounce.cf.default"))
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// TestParsePostfixDefaultTemplates: Postfix's default file, as a site
// copies it, is read whole: its four templates, their headers and text.
func TestParsePostfixDefaultTemplates(t *testing.T) {
	ts := postfixDefault(t)
	for _, tp := range []*Template{ts.Failure, ts.Delay, ts.Success, ts.Verify} {
		if tp == nil {
			t.Fatalf("a template is missing: %+v", ts)
		}
		if tp.Charset != "us-ascii" || tp.From != "Mail Delivery System" || tp.fromAddr != "MAILER-DAEMON" {
			t.Errorf("%s: charset %q, From %q <%s>", tp.Name, tp.Charset, tp.From, tp.fromAddr)
		}
	}
	if ts.Failure.Subject != "Undelivered Mail Returned to Sender" || ts.Failure.PostmasterSubject != "Postmaster Copy: Undelivered Mail" {
		t.Errorf("failure subjects %q, %q", ts.Failure.Subject, ts.Failure.PostmasterSubject)
	}
	if ts.Failure.Line != 4 || ts.Delay.Line != 23 {
		t.Errorf("failure_template at line %d, delay_template at %d", ts.Failure.Line, ts.Delay.Line)
	}
	got := ts.Delay.expandText(values{host: "mx.example.org", delayWarning: 4 * time.Hour, maxAge: 5 * 24 * time.Hour})
	for _, want := range []string{
		"This is the mail system at host mx.example.org.\r\n\r\n####",
		"\r\nYour message could not be delivered for more than 4 hour(s).\r\nIt will be retried until it is 5 day(s) old.\r\n",
		"\r\n                   The mail system\r\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("delay text lacks %q:\n%s", want, got)
		}
	}
}

// TestTemplatesMatchPostconf: Sluice's expansion of a file is the text
// Postfix's postconf -b printed for it (testdata/*.expanded, by Postfix
// 3.7.11 with myhostname = mx.example.org, delay_warning_time = 3h and
// maximal_queue_lifetime = 14d). custom.cf has what a site's file may
// write: comments, an end marker of its own, the header forms, $(name),
// ${name}, $$, the time units, leading blanks and backslashes kept, a
// one-line template.
func TestTemplatesMatchPostconf(t *testing.T) {
	v := values{host: "mx.example.org", delayWarning: 3 * time.Hour, maxAge: 14 * 24 * time.Hour}
	for _, name := range []string{"bounce.cf.default", "custom.cf"} {
		file := filepath.Join("testdata", name)
		out, err := os.ReadFile(file + ".expanded")
		if err != nil {
			t.Fatal(err)
		}
		ts, err := LoadTemplates(file)
		if err != nil {
			t.Fatal(err)
		}
		for kind, tp := range map[string]*Template{"failure": ts.Failure, "delay": ts.Delay, "success": ts.Success, "verify": ts.Verify} {
			m := regexp.MustCompile(`(?s)expanded_` + kind + `_text = <<EOF\n(.*?)\nEOF\n`).FindSubmatch(out)
			if m == nil {
				t.Fatalf("postconf -b printed no %s text:\n%s", kind, out)
			}
			if tp == nil {
				continue // postconf printed its built-in one
			}
			got := strings.ReplaceAll(tp.expandText(v), "\r\n", "\n")
			if want := strings.TrimRight(string(m[1]), "\n") + "\n"; got != want {
				t.Errorf("%s %s:\nSluice:\n%s\npostconf -b:\n%s", name, kind, got, want)
			}
		}
	}
}

// TestParseTemplatesErrors: a file Sluice cannot use fully is refused at
// the line at fault, where Postfix warns and keeps its built-in notice
// or fails at the first report (an undefined $name).
func TestParseTemplatesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"unterminated", "# x\nfailure_template = <<EOF\nSubject: x\n\ntext\n", "bounce.cf:2: failure_template: no line \"EOF\" ends it"},
		{"unknown section", "failure_template = <<EOF\ntext\nEOF\nbounced_template = <<EOF\ntext\nEOF\n", "bounce.cf:4: unknown template name bounced_template"},
		{"unknown name", "delay_template = <<EOF\nSubject: x\n\nhost $myhostname\nat $myorigin\nEOF\n", "bounce.cf:5: delay_template: undefined $myorigin: the names Sluice expands are"},
		{"bad suffix", "delay_template = <<EOF\n$delay_warning_time_fortnights\nEOF\n", "bounce.cf:2: delay_template: unrecognized suffix \"fortnights\""},
		{"bad charset", "failure_template = <<EOF\nSubject: x\nCharset: klingon-8\n\ntext\nEOF\n", "bounce.cf:3: failure_template: unknown charset \"klingon-8\""},
		{"not a superset of ASCII", "failure_template = <<EOF\nCharset: utf-16\n\ntext\nEOF\n", "bounce.cf:2: failure_template: charset \"utf-16\" is not a superset of US-ASCII"},
		{"8-bit in us-ascii", "failure_template = <<EOF\nCharset: us-ascii\n\nok\nZustellung f\xc3\xbcr\nEOF\n", "bounce.cf:5: failure_template: 8-bit text in a us-ascii template"},
		{"not UTF-8", "failure_template = <<EOF\nZustellung f\xfcr\nEOF\n", "bounce.cf:2: failure_template: text that is not UTF-8"},
		{"not the charset", "failure_template = <<EOF\nCharset: iso-8859-8\n\n\xfb\nEOF\n", "bounce.cf:4: failure_template: text that is not valid iso-8859-8"},
		{"a lone $", "failure_template = <<EOF\ncosts $ 5\nEOF\n", "bounce.cf:2: failure_template: bad $name syntax"},
		{"unclosed brace", "failure_template = <<EOF\n${myhostname\nEOF\n", "bounce.cf:2: failure_template: bad $name syntax"},
		{"conditional", "failure_template = <<EOF\n${mydomain?x}\nEOF\n", "bounce.cf:2: failure_template: ${mydomain?x}: conditional expansions"},
		{"unknown header", "failure_template = <<EOF\nReply-To: x\n\ntext\nEOF\n", "bounce.cf:2: failure_template: unknown \"Reply-To\" header"},
		{"empty header", "failure_template = <<EOF\nSubject:\n\ntext\nEOF\n", "bounce.cf:2: failure_template: empty \"Subject\" header"},
		{"header twice", "failure_template = <<EOF\nSubject: a\nsubject: b\n\ntext\nEOF\n", "bounce.cf:3: failure_template: a second \"subject\" header (the first is at line 2)"},
		{"postmaster copy of success", "success_template = <<EOF\nPostmaster-Subject: x\n\ntext\nEOF\n", "bounce.cf:2: success_template: inapplicable \"Postmaster-Subject\" header"},
		{"bad From", "failure_template = <<EOF\nFrom: Mail System <MAILER-DAEMON\n\ntext\nEOF\n", "bounce.cf:2: failure_template: From header \"Mail System <MAILER-DAEMON\": a < without a >"},
		{"no text", "failure_template = <<EOF\nSubject: x\n\n\nEOF\n", "bounce.cf:1: failure_template: missing message text"},
		{"template twice", "failure_template = a\n\nfailure_template = b\n", "bounce.cf:3: failure_template again (the first is at line 1)"},
		{"no =", "failure_template <<EOF\ntext\nEOF\n", "bounce.cf:1: missing '=' after attribute name"},
		{"quoted marker", "failure_template = <<'EOF'\ntext\nEOF\n", "bounce.cf:1: failure_template: malformed end marker"},
		{"From not ASCII", "failure_template = <<EOF\nFrom: Hilfe <hilfe@b\xc3\xbccher.example>\n\ntext\nEOF\n", "bounce.cf:2: failure_template: From header \"Hilfe <hilfe@b\xc3\xbccher.example>\": an address that is not ASCII"},
		{"From two addresses", "failure_template = <<EOF\nFrom: Help <help@example.org,root@example.org>\n\ntext\nEOF\n", "bounce.cf:2: failure_template: From header \"Help <help@example.org,root@example.org>\": not an address"},
		{"From no domain", "failure_template = <<EOF\nFrom: help@\n\ntext\nEOF\n", "bounce.cf:2: failure_template: From header \"help@\": not an address"},
		{"CR in text", "failure_template = <<EOF\nok\nbare\rCR\nEOF\n", "bounce.cf:3: failure_template: a control character (U+000D)"},
		{"NUL in text", "failure_template = <<EOF\nnul\x00\nEOF\n", "bounce.cf:2: failure_template: a control character (U+0000)"},
		{"CR in Subject", "failure_template = <<EOF\nSubject: a\rBcc: x\n\ntext\nEOF\n", "bounce.cf:2: failure_template: subject header: a control character (U+000D)"},
		{"long line", "failure_template = <<EOF\nok\n" + strings.Repeat("x", 999) + "\nEOF\n", "bounce.cf:3: failure_template: a line of 999 characters"},
		{"long with names", "failure_template = <<EOF\n" + strings.Repeat("x", 700) + "$myhostname $myhostname\nEOF\n", "bounce.cf:2: failure_template: a line of 1207 characters with its $names expanded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTemplates("bounce.cf", []byte(tc.file))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %s…", err, tc.want)
			}
		})
	}
}

// TestParseTemplatesCRLF: a file saved with CRLF line ends reads as one
// with LF (Postfix would miss its "EOF\r" end marker).
func TestParseTemplatesCRLF(t *testing.T) {
	ts, err := ParseTemplates("bounce.cf", []byte("failure_template = <<EOF\r\nSubject: Bounced\r\n\r\nHello $myhostname\r\nEOF\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ts.Failure.expandText(values{host: "h.test"}); ts.Failure.Subject != "Bounced" || got != "Hello h.test\r\n" {
		t.Errorf("subject %q, text %q", ts.Failure.Subject, got)
	}
}

// TestReadTemplateFile: the file is read whole up to MaxTemplateFile
// bytes; a larger one, a FIFO (which would block the open) and a device
// are refused, as is a file gone.
func TestReadTemplateFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "bounce.cf")
	if err := os.WriteFile(ok, []byte("failure_template = text\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if ts, err := LoadTemplates(ok); err != nil || ts.Failure == nil {
		t.Fatalf("%v %+v", err, ts)
	}
	big := filepath.Join(dir, "big.cf")
	if err := os.WriteFile(big, append([]byte("failure_template = text\n"), bytes.Repeat([]byte("#\n"), MaxTemplateFile/2)...), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		big:                        big + ": larger than 1048576 bytes",
		fifo:                       fifo + ": not a regular file",
		"/dev/zero":                "/dev/zero: not a regular file",
		filepath.Join(dir, "gone"): "no such file or directory",
	} {
		if _, err := LoadTemplates(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", path, err, want)
		}
	}
}
