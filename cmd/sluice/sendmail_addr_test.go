package main

import (
	"bytes"
	"slices"
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
		{[]string{"-i", "a\x01b@remote.test"}, "", `bad recipient "a\x01b@remote.test": control character in the local part`},
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

// A quoted local part with a space (RFC 5321 §4.1.2 Quoted-string) in a
// To header went out unquoted, <a b@remote.test>, which the daemon
// refused with a 501: sendmail -t said EX_NOUSER for a valid address.
// A local part that is no dot-string is quoted again on the wire.
func TestSendmailQuotedLocalPart(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", sink.Addr) // go-smtp reads the paths, as in the daemon
	var stderr bytes.Buffer
	in := "To: \"a b\"@remote.test, .dot@remote.test\nSubject: x\n\nhi\n"
	if code := run([]string{"sendmail", "-i", "-f", "s@mx.test", "-t"}, strings.NewReader(in), &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	d := sink.Deliveries()
	if len(d) != 1 || d[0].From != "s@mx.test" || !slices.Equal(d[0].Rcpts, []string{"a b@remote.test", ".dot@remote.test"}) {
		t.Fatalf("sink got %+v", d)
	}
}
