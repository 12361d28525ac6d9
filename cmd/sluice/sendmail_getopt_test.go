package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Options are read as getopt(3) reads them, as Postfix's sendmail does:
// letters without a value may be bundled, and a letter with a value takes
// the rest of its argument or else the next one.
func TestSendmailArgsBundled(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want sendmailOpts
	}{
		{[]string{"-ti"}, sendmailOpts{fromHeaders: true, ignoreDots: true}},
		{[]string{"-it"}, sendmailOpts{fromHeaders: true, ignoreDots: true}},
		{[]string{"-tiv", "a@x.test"}, sendmailOpts{fromHeaders: true, ignoreDots: true, verbose: true, rcpts: []string{"a@x.test"}}},
		{[]string{"-tfroot"}, sendmailOpts{fromHeaders: true, sender: "root", senderSet: true}},
		{[]string{"-tf", "root"}, sendmailOpts{fromHeaders: true, sender: "root", senderSet: true}},
		{[]string{"-itF", "Cron Daemon"}, sendmailOpts{fromHeaders: true, ignoreDots: true, fullName: "Cron Daemon"}},
		{[]string{"-tfit@x.test"}, sendmailOpts{fromHeaders: true, sender: "it@x.test", senderSet: true}}, // the value's letters are not options
		{[]string{"-toi"}, sendmailOpts{fromHeaders: true, ignoreDots: true}},
		{[]string{"-o", "i"}, sendmailOpts{ignoreDots: true}},
		{[]string{"-odi", "-oem", "a@x.test"}, sendmailOpts{rcpts: []string{"a@x.test"}}},
		{[]string{"-tbs"}, sendmailOpts{fromHeaders: true, smtpStdio: true}},
		{[]string{"-b", "m", "a@x.test"}, sendmailOpts{rcpts: []string{"a@x.test"}}},
		{[]string{"-tNfailure,delay"}, sendmailOpts{fromHeaders: true, notify: []string{"FAILURE", "DELAY"}}},
		{[]string{"-tRhdrs", "-Vid1"}, sendmailOpts{fromHeaders: true, ret: "HDRS", envID: "id1"}},
		{[]string{"-tB", "8BITMIME", "-GUm", "a@x.test"}, sendmailOpts{fromHeaders: true, rcpts: []string{"a@x.test"}}},
		{[]string{"-t", "-", "a@x.test"}, sendmailOpts{fromHeaders: true, rcpts: []string{"-", "a@x.test"}}},
		// -e and -p take a value in Postfix's getopt string: it is not a recipient.
		{[]string{"-e", "m", "-p", "smtp:host", "a@x.test"}, sendmailOpts{rcpts: []string{"a@x.test"}}},
		{[]string{"-tem", "-psmtp", "a@x.test"}, sendmailOpts{fromHeaders: true, rcpts: []string{"a@x.test"}}},
	} {
		o, err := parseSendmailArgs(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if o.fromHeaders != tc.want.fromHeaders || o.ignoreDots != tc.want.ignoreDots || o.verbose != tc.want.verbose ||
			o.smtpStdio != tc.want.smtpStdio || o.sender != tc.want.sender || o.senderSet != tc.want.senderSet ||
			o.fullName != tc.want.fullName || o.ret != tc.want.ret || o.envID != tc.want.envID ||
			!slices.Equal(o.notify, tc.want.notify) || !slices.Equal(o.rcpts, tc.want.rcpts) {
			t.Errorf("%q: parsed %+v, want %+v", tc.args, *o, tc.want)
		}
	}
	// An unknown letter is refused wherever it stands in a bundle, as it
	// is alone; so is a value letter at the end without its value.
	for _, bad := range [][]string{{"-tk"}, {"-kt"}, {"-tik"}, {"-tf"}, {"-ti", "-o"}, {"-tq"}, {"-tbp"}, {"-tRmost"},
		{"-N", "never,success"}, {"-Nfailure,never"}} { // NEVER stands alone (RFC 3461 §4.1)
		if _, err := parseSendmailArgs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		} else if code := err.(*sendmailError).code; code != exUsage {
			t.Errorf("%q: exit %d, want %d", bad, code, exUsage)
		}
	}
}

// A comma inside a quoted display name does not split the address list
// (RFC 5322 §3.4), also when another address of the list is a bare name
// that net/mail refuses and the list is split by hand.
func TestSendmailAddrListQuotedComma(t *testing.T) {
	for in, want := range map[string][]string{
		`"Smith, Alice" <alice@example.org>, carol`: {"alice@example.org", "carol@mx.test"},
		`carol, "Smith, Alice" <alice@example.org>`: {"carol@mx.test", "alice@example.org"},
		`"Smith, Alice" <alice>, bob@example.org`:   {"alice@mx.test", "bob@example.org"},
		`root, "a\", b" <b@example.org>`:            {"root@mx.test", "b@example.org"},
		`root, admin`:                               {"root@mx.test", "admin@mx.test"},
		`"Smith, Alice" <alice@example.org>`:        {"alice@example.org"},
	} {
		got, err := parseAddrs(in, "mx.test")
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseAddrs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseAddrs(`"Smith, Alice" <a b>, carol`, "mx.test"); err == nil {
		t.Error("a malformed address in the list accepted")
	}
}

// sendmail -ti, bundled, reads the recipients from the header and keeps a
// line of a single dot as text: the whole message reaches the sink, for
// the quoted name with a comma in To as well as the bare user name.
func TestSendmailBundledTI(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", startSinkDaemon(t, sink))
	msg := "To: \"Smith, Alice\" <alice@remote.test>, carol\nSubject: x\n\nline1\n.\nline3\n"
	var stderr bytes.Buffer
	if code := run([]string{"sendmail", "-ti"}, strings.NewReader(msg), &bytes.Buffer{}, &stderr); code != exOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// Without -c, a bare name is qualified with the daemon's hostname.
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	slices.Sort(got.Rcpts)
	if want := []string{"alice@remote.test", "carol@mx.sluice.test"}; !slices.Equal(got.Rcpts, want) {
		t.Errorf("rcpts %v, want %v", got.Rcpts, want)
	}
	if !strings.Contains(string(got.Data), "\r\n\r\nline1\r\n.\r\nline3\r\n") {
		t.Errorf("body cut at the dot:\n%s", got.Data)
	}
}

// `sluice sendmail --help` prints the usage (exit 0), as every command's
// --help does; -h stays sendmail's hop count and needs its value.
func TestSendmailHelp(t *testing.T) {
	var o, e bytes.Buffer
	if code := run([]string{"sendmail", "--help"}, strings.NewReader(""), &o, &e); code != exOK ||
		!strings.HasPrefix(o.String(), "usage: sluice sendmail") || !strings.Contains(o.String(), "-f FROM") || e.Len() != 0 {
		t.Fatalf("sendmail --help: exit %d, stdout %q, stderr %q", code, o.String(), e.String())
	}
	o.Reset()
	if code := run([]string{"sendmail", "-h"}, strings.NewReader(""), &o, &e); code != exUsage || o.Len() != 0 ||
		!strings.Contains(e.String(), "-h needs a value") {
		t.Fatalf("sendmail -h: exit %d, stdout %q, stderr %q", code, o.String(), e.String())
	}
}
