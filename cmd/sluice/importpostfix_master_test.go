package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// master.cf's -o takes Postfix 3.0's long form, "-o { name = value }",
// white space after "{", around "=" and before "}" dropped and white
// space within the value kept (master(5)), as well as "-o name=value";
// other arguments in braces are one argument.
func TestParseMasterLongOptions(t *testing.T) {
	services := parseMaster([]byte("submission inet n - y - - smtpd\n" +
		"  -o { smtpd_client_restrictions = permit_mynetworks,  reject }\n" +
		"  -o {syslog_name=postfix/sub}\n" +
		"  -o smtpd_tls_security_level=encrypt\n" +
		"  -o { milter_macro_daemon_name = { ORIGINATING } }\n" +
		"  { -v }  -o  x=1 -o x=2\n"))
	if len(services) != 1 {
		t.Fatalf("services = %+v", services)
	}
	s := services[0]
	want := map[string]string{
		"smtpd_client_restrictions": "permit_mynetworks,  reject",
		"syslog_name":               "postfix/sub",
		"smtpd_tls_security_level":  "encrypt",
		"milter_macro_daemon_name":  "{ ORIGINATING }",
		"x":                         "2",
	}
	for k, v := range want {
		if s.opts[k] != v {
			t.Errorf("-o %s = %q, want %q", k, s.opts[k], v)
		}
	}
	if len(s.opts) != len(want) || strings.Join(s.optOrder, " ") != "smtpd_client_restrictions syslog_name smtpd_tls_security_level milter_macro_daemon_name x" {
		t.Errorf("opts %q, order %q", s.opts, s.optOrder)
	}
	if strings.Join(s.args, "|") != "-v" {
		t.Errorf("args = %q, want [-v]", s.args)
	}
}

// master.cf's -o may be joined to its value, "-oname=value", as the
// daemons' getopt(3) reads an option's argument; it counts as "-o
// name=value" does, in optOrder and the last one winning. A joined
// "-o{ … }" is no -o (master(5) strips braces only from a field of their
// own, and the daemon refuses the value); it stays an argument, as does
// a "-o" with nothing after it.
func TestParseMasterJoinedOptions(t *testing.T) {
	services := parseMaster([]byte("smtp inet n - y - - smtpd\n" +
		"  -osmtpd_forbid_bare_newline_reject_code=521 -o syslog_name=postfix/in\n" +
		"  -o { smtpd_forbid_bare_newline_exclusions = 192.0.2.1, 192.0.2.2 } -oempty=\n" +
		"  -osyslog_name=postfix/mx -o{x=1} -o\n"))
	if len(services) != 1 {
		t.Fatalf("services = %+v", services)
	}
	s := services[0]
	want := map[string]string{
		"smtpd_forbid_bare_newline_reject_code": "521",
		"syslog_name":                           "postfix/mx",
		"smtpd_forbid_bare_newline_exclusions":  "192.0.2.1, 192.0.2.2",
		"empty":                                 "",
	}
	for k, v := range want {
		if got, ok := s.opts[k]; !ok || got != v {
			t.Errorf("-o %s = %q (%v), want %q", k, got, ok, v)
		}
	}
	if len(s.opts) != len(want) || strings.Join(s.optOrder, " ") != "smtpd_forbid_bare_newline_reject_code syslog_name smtpd_forbid_bare_newline_exclusions empty" {
		t.Errorf("opts %q, order %q", s.opts, s.optOrder)
	}
	if strings.Join(s.args, "|") != "-o{x=1}|-o" {
		t.Errorf("args = %q, want [-o{x=1} -o]", s.args)
	}
}

// A daemon's options end at its first other argument, as Postfix's
// GETOPT ("+" first, no permuting) ends them: the -oi of a pipe(8)
// service's "argv=/usr/sbin/sendmail -oi …" (SpamAssassin's content
// filter) is sendmail's, and a -o after "--" or after the argv is no
// Postfix option either, so none is listed as one.
func TestParseMasterOptionsEndAtFirstArgument(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n  -o content_filter=spamassassin\n" +
		"spamassassin unix - n n - - pipe\n" +
		"  -o syslog_name=postfix/sa user=debian-spamd argv=/usr/bin/spamc -f -e /usr/sbin/sendmail -oi -f ${sender} ${recipient}\n" +
		"filter unix - n n - - pipe -v -- -o x=1\n"
	services := parseMaster([]byte(master))
	if len(services) != 3 {
		t.Fatalf("services = %+v", services)
	}
	for i, want := range []struct{ opts, args string }{
		{"content_filter", ""},
		{"syslog_name", "user=debian-spamd argv=/usr/bin/spamc -f -e /usr/sbin/sendmail -oi -f ${sender} ${recipient}"},
		{"", "-v -- -o x=1"},
	} {
		s := services[i]
		if got := strings.Join(s.optOrder, " "); got != want.opts || len(s.opts) != len(s.optOrder) {
			t.Errorf("%s: options %q, want %q", s.name, s.opts, want.opts)
		}
		if got := strings.Join(s.args, " "); got != want.args {
			t.Errorf("%s: args %q, want %q", s.name, got, want.args)
		}
	}
	dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n", "master.cf": master})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "spamassassin -o syslog_name=postfix/sa") || strings.Contains(out, "-o i=") || strings.Contains(out, "-o x=") {
		t.Errorf("want only -o syslog_name listed of the pipe services':\n%s", out)
	}
}

// Without a master.cf the listener's comment says so, not "master.cf:0".
func TestImportPostfixNoMasterCF(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n"})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "master.cf:0") || !strings.Contains(out, "# master.cf: none, one smtp service on port 25 assumed\nname = \"mx\"\n") {
		t.Errorf("no master.cf:\n%s", out)
	}
	// The header names what was read: main.cf alone.
	if first, _, _ := strings.Cut(out, "\n"); strings.Contains(first, "master.cf)") {
		t.Errorf("the header says master.cf was read: %s", first)
	}
}

// myorigin naming a file outside config_directory (Debian's /etc/mailname)
// is read on this machine, and the draft says so: -d may be a copy of
// another host's directory.
func TestImportPostfixMyoriginFile(t *testing.T) {
	mailname := filepath.Join(t.TempDir(), "mailname")
	if err := os.WriteFile(mailname, []byte("origin.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nmyorigin = " + mailname + "\nvirtual_alias_maps = hash:/etc/postfix/virtual\n",
		"virtual": "abuse@example.org ops\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	want := "# myorigin = " + mailname + " is origin.example, read from " + mailname + " on the machine running the import, not from " + dir + ": bare names in virtual_alias_maps are qualified with it.\n"
	if !strings.Contains(out, want) || !strings.Contains(out, `"abuse@example.org" = ["ops@origin.example"]`) {
		t.Errorf("want %q and ops@origin.example in:\n%s", want, out)
	}
}
