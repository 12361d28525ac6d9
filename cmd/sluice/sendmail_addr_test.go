package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A malformed recipient or sender, on the command line or (with -t) in
// the header, is EX_DATAERR, as README promises, and the daemon is not
// asked: its 501 would have read as an unknown user (EX_NOUSER) or, for
// the sender, an unavailable daemon.
func TestSendmailMalformedAddressIsDataErr(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", sink.Addr)
	for _, tc := range []struct {
		args []string
		in   string
		want string
	}{
		{[]string{"-i", "bob@"}, "", `bad recipient "bob@": want local-part@domain`},
		{[]string{"-i", "@remote.test"}, "", `bad recipient "@remote.test": want local-part@domain`},
		{[]string{"-i", "a@b@remote.test"}, "", `bad recipient "a@b@remote.test": want local-part@domain`},
		{[]string{"-i", "x@-bad-.test"}, "", `bad recipient "x@-bad-.test": bad domain "-bad-.test"`},
		{[]string{"-i", "ok@remote.test, x@bad..test"}, "", `bad recipient "ok@remote.test, x@bad..test": x@bad..test: bad domain "bad..test"`},
		{[]string{"-ti"}, "To: ok@remote.test\nCc: carol@\n", `bad Cc header "carol@": want local-part@domain`},
		{[]string{"-i", "-f", "me@-x-.test", "bob@remote.test"}, "", `bad sender "me@-x-.test": bad domain "-x-.test"`},
	} {
		var stderr bytes.Buffer
		code := run(append([]string{"sendmail"}, tc.args...), strings.NewReader(tc.in+"Subject: x\n\nhi\n"), &bytes.Buffer{}, &stderr)
		if want := "sendmail: " + tc.want + "\n"; code != exDataErr || stderr.String() != want {
			t.Errorf("%q: exit %d, stderr %q; want %d, %q", tc.args, code, stderr.String(), exDataErr, want)
		}
	}
	if n := sink.Conns(); n != 0 {
		t.Errorf("the daemon was asked %d times", n)
	}
}
