package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

const bounceTemplateHead = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n[delivery]\ndelay_warning = \"6h\"\nbounce_template = \"bounce.cf\"\n"

// sluice bounce-template prints the reports the config's template makes,
// each kind or the one named: the file read relative to the config, its
// $names expanded with the config's values.
func TestBounceTemplateCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.toml")
	writeFile(t, path, bounceTemplateHead)
	writeFile(t, filepath.Join(dir, "bounce.cf"), "delay_template = <<EOF\nSubject: Still trying\nFrom: Example Mail <MAILER-DAEMON>\n\n"+
		"After $delay_warning_time_hours hours at $myhostname, retried up to $maximal_queue_lifetime_days days.\nEOF\n")
	out := runCLI(t, "bounce-template", "-c", path, "delay")
	for _, want := range []string{
		"# delay\nReceived: by mx.example.org (Sluice);\n",
		"\nFrom: Example Mail <MAILER-DAEMON@mx.example.org>\nTo: <sender@example.com>\nSubject: Still trying\n",
		"\n\nAfter 6 hours at mx.example.org, retried up to 5 days.\n\n    <rcpt@example.net>: 451 4.3.0 ",
		"\nAction: delayed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\r") || strings.Contains(out, "# failure") {
		t.Errorf("CR or another kind in:\n%s", out)
	}
	all := runCLI(t, "bounce-template", "-c", path)
	if !strings.Contains(all, "# failure\n") || !strings.Contains(all, "\nSubject: Undelivered Mail Returned to Sender\n") ||
		!strings.Contains(all, "\n# success\n") || !strings.Contains(all, "\nSubject: Still trying\n") {
		t.Errorf("every kind, the built-in ones where the file has none:\n%s", all)
	}

	var o, e bytes.Buffer
	if code := run([]string{"bounce-template", "-c", path, "bogus"}, nil, &o, &e); code != 1 || !strings.Contains(e.String(), `no kind "bogus"`) {
		t.Errorf("bogus kind: exit %d, %q", code, e.String())
	}
	writeFile(t, filepath.Join(dir, "bounce.cf"), "failure_template = <<EOF\nat $myorigin\nEOF\n")
	o.Reset()
	e.Reset()
	want := path + ":9: bounce_template: " + filepath.Join(dir, "bounce.cf") + ":2: failure_template: undefined $myorigin"
	if code := run([]string{"bounce-template", "-c", path}, nil, &o, &e); code != 1 || !strings.HasPrefix(e.String(), want) {
		t.Errorf("a bad template: exit %d, %q\nwant %s…", code, e.String(), want)
	}
	if !strings.Contains(usage, "\n  bounce-template [-c FILE] [failure|delay|success]\n") {
		t.Errorf("sluice -h lacks bounce-template's synopsis:\n%s", usage)
	}
}

// check-config reads the template: a bad one is refused at the key's
// line and the file's; its From address is the reports', as Postfix's.
func TestCheckConfigBounceTemplate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.toml")
	writeFile(t, path, bounceTemplateHead)
	tpl := filepath.Join(dir, "bounce.cf")
	writeFile(t, tpl, "failure_template = <<EOF\nCharset: us-ascii\n\nZustellung f\xc3\xbcr\nEOF\n")
	var o, e bytes.Buffer
	want := path + ":9: bounce_template: " + tpl + ":4: failure_template: 8-bit text in a us-ascii template"
	if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 1 || !strings.HasPrefix(e.String(), want) {
		t.Fatalf("exit %d, stderr %q, want prefix %q", code, e.String(), want)
	}
	writeFile(t, tpl, "failure_template = <<EOF\nFrom: Help Desk <help@example.org>\n\nUndeliverable.\nEOF\n")
	if out := runCLI(t, "check-config", "-c", path); strings.Contains(out, "warning") {
		t.Errorf("a warning for the template's From address:\n%s", out)
	}
	if out := runCLI(t, "bounce-template", "-c", path, "failure"); !strings.Contains(out, "\nFrom: Help Desk <help@example.org>\n") {
		t.Errorf("the report is not From the template's address:\n%s", out)
	}
}

// bounce_template_file becomes [delivery] bounce_template, the path as
// Postfix has it; the file, read from -d's directory, is checked, and
// what Sluice cannot use is said in a comment.
func TestImportPostfixBounceTemplate(t *testing.T) {
	for _, tc := range []struct{ file, comment string }{
		{"failure_template = <<EOF\nSubject: Bounced\n\nReturned by $myhostname.\nEOF\n", ""},
		{"failure_template = <<EOF\nReturned by $mail_name.\nEOF\n", "# Sluice cannot use it as it is (check-config refuses it): /etc/postfix/bounce.cf:2: failure_template: undefined $mail_name"},
	} {
		dir := writePostfix(t, "postfix", map[string]string{
			"main.cf":   "myhostname = mx.example.org\nbounce_template_file = ${config_directory}/bounce.cf\n",
			"master.cf": "smtp inet n - y - - smtpd\n",
			"bounce.cf": tc.file,
		})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out))
		if err != nil {
			t.Fatalf("core/config refuses the output: %v\n%s", err, out)
		}
		if got := cfg.Delivery.BounceTemplate; got != "/etc/postfix/bounce.cf" {
			t.Errorf("bounce_template %q\n%s", got, out)
		}
		if !strings.Contains(out, "# bounce_template_file = /etc/postfix/bounce.cf (Postfix's bounce(5) format, read as it is)\nbounce_template = \"/etc/postfix/bounce.cf\"\n") {
			t.Errorf("no comment naming the parameter:\n%s", out)
		}
		if tc.comment != "" && !strings.Contains(out, "\n"+tc.comment+": the names Sluice expands") || tc.comment == "" && strings.Contains(out, "cannot use") {
			t.Errorf("comment %q:\n%s", tc.comment, out)
		}
		for _, n := range notCarried(t, out) {
			if n == "bounce_template_file" {
				t.Errorf("listed as not carried:\n%s", out)
			}
		}
	}
}

// A relative bounce_template_file is under queue_directory, the bounce
// daemon's working directory: the draft names it so (Sluice resolves a
// relative path against its config's directory) and reads that file.
func TestImportPostfixBounceTemplateRelative(t *testing.T) {
	spool := t.TempDir()
	writeFile(t, filepath.Join(spool, "bounce.cf"), "failure_template = <<EOF\nReturned by $mail_name.\nEOF\n")
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf":   "myhostname = mx.example.org\nqueue_directory = " + spool + "\nbounce_template_file = bounce.cf\n",
		"master.cf": "smtp inet n - y - - smtpd\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(spool, "bounce.cf")
	if !strings.Contains(out, "# bounce_template_file = bounce.cf (Postfix's bounce(5) format, read as it is), relative to queue_directory\nbounce_template = "+tomlStr(want)+"\n") {
		t.Errorf("bounce_template not %s:\n%s", want, out)
	}
	if !strings.Contains(out, "(check-config refuses it): "+want+":2: failure_template: undefined $mail_name") {
		t.Errorf("the file under queue_directory not read:\n%s", out)
	}
}
