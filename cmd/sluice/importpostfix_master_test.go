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
