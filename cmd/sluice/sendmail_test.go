package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/daemon"
	"github.com/sluice-mta/sluice/internal/testlib"
)

func TestSendmailArgs(t *testing.T) {
	o, err := parseSendmailArgs([]string{"-FCron Daemon", "-i", "-B8BITMIME", "-odi", "-oem", "-f", "root", "-N", "failure,delay", "a@x.test", "-t", "--", "-b@x.test"})
	if err != nil {
		t.Fatal(err)
	}
	if o.fullName != "Cron Daemon" || !o.ignoreDots || o.sender != "root" || !o.fromHeaders ||
		!slices.Equal(o.notify, []string{"FAILURE", "DELAY"}) || !slices.Equal(o.rcpts, []string{"a@x.test", "-b@x.test"}) {
		t.Fatalf("parsed %+v", o)
	}
	o, err = parseSendmailArgs([]string{"-oi", "-fuser@x.test", "b@y.test"})
	if err != nil || !o.ignoreDots || o.sender != "user@x.test" || !slices.Equal(o.rcpts, []string{"b@y.test"}) {
		t.Fatalf("parsed %+v %v", o, err)
	}
	for _, bad := range [][]string{{"-bp"}, {"-q"}, {"-k"}, {"-f"}, {"-R", "most"}} {
		if _, err := parseSendmailArgs(bad); err == nil {
			t.Errorf("%v accepted", bad)
		} else if code := err.(*sendmailError).code; code != exUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exUsage)
		}
	}
}

func TestSendmailMessage(t *testing.T) {
	m, err := readMessage(strings.NewReader("From me Mon Jan  1 00:00:00 2024\nTo: Bob <bob@x.test>, root\nBcc: carol@x.test\nSubject: hi\n\nline\n.\nafter the dot\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(m.bodyBytes(t)); got != "line\r\n" {
		t.Fatalf("a line of . must end the message without -i: body %q", got)
	}
	to, err := parseAddrs(m.values("To")[0], "mx.test")
	if err != nil || !slices.Equal(to, []string{"bob@x.test", "root@mx.test"}) {
		t.Fatalf("To %v %v", to, err)
	}
	m.remove("Bcc")
	m.complete(&sendmailOpts{sender: "me@mx.test", fullName: "Me Myself"}, "mx.test")
	out := string(m.bytes(t))
	for _, want := range []string{"To: Bob <bob@x.test>, root\r\nSubject: hi\r\nFrom: \"Me Myself\" <me@mx.test>\r\nDate: ", "\r\nMessage-ID: <", "@mx.test>\r\n\r\nline\r\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "Bcc") || strings.Contains(out, "From me") {
		t.Errorf("Bcc or the mbox From line kept:\n%s", out)
	}

	// With -i a lone dot is text; input without a header is all body.
	m, _ = readMessage(strings.NewReader("no header here\n.\nmore\n"), true)
	if body := m.bodyBytes(t); len(m.fields) != 0 || string(body) != "no header here\r\n.\r\nmore\r\n" {
		t.Fatalf("fields %q body %q", m.fields, body)
	}
}

// startSinkDaemon runs an in-process daemon that relays everything to a
// sink and returns its SMTP address.
func startSinkDaemon(t *testing.T, sink *testlib.Sink) string {
	t.Helper()
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
[delivery]
relay = %q
`, filepath.Join(t.TempDir(), "data"), sink.Addr)
	c, err := config.Parse("sendmail-test.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.Start(daemon.Options{Config: c, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	return d.SMTPAddrs()["mx"].String()
}

// TestSendmailFromShellPipeline installs sluice as a symlink named
// sendmail and pipes a message into it from /bin/sh, as cron and PHP do;
// the message reaches the sink through the daemon with its Bcc recipient
// but without the Bcc header.
func TestSendmailFromShellPipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	sink := testlib.NewSink(t, "127.0.0.1:0")
	addr := startSinkDaemon(t, sink)
	bin := testlib.Build(t, "./cmd/sluice")
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "sendmail")); err != nil {
		t.Fatal(err)
	}
	script := `printf 'To: bob@remote.test\nBcc: carol@remote.test\nSubject: from cron\n\nhello\n.\nstill here\n' | sendmail -t -oi -F 'Cron Daemon' -f cron@sluice.test`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"), "SLUICE_SMTP="+addr)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sendmail: %v\n%s", err, out)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	slices.Sort(got.Rcpts)
	if got.From != "cron@sluice.test" || !slices.Equal(got.Rcpts, []string{"bob@remote.test", "carol@remote.test"}) {
		t.Fatalf("envelope %s → %v", got.From, got.Rcpts)
	}
	data := string(got.Data)
	for _, want := range []string{"\r\nFrom: \"Cron Daemon\" <cron@sluice.test>\r\n", "\r\nSubject: from cron\r\n", "\r\n\r\nhello\r\n.\r\nstill here\r\n"} {
		if !strings.Contains(data, want) {
			t.Errorf("missing %q in\n%s", want, data)
		}
	}
	if strings.Contains(data, "Bcc") {
		t.Errorf("Bcc header delivered:\n%s", data)
	}

	// As `sluice sendmail`, recipients as arguments; a daemon that is not
	// there is EX_UNAVAILABLE.
	cmd = exec.Command(bin, "sendmail", "dave@remote.test")
	cmd.Env = append(os.Environ(), "SLUICE_SMTP="+addr)
	cmd.Stdin = strings.NewReader("Subject: args\n\nhi\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice sendmail: %v\n%s", err, out)
	}
	if got := sink.WaitN(t, 2, 10*time.Second)[1]; !slices.Equal(got.Rcpts, []string{"dave@remote.test"}) {
		t.Fatalf("rcpts %v", got.Rcpts)
	}
	cmd = exec.Command(filepath.Join(dir, "sendmail"), "-i", "x@remote.test")
	cmd.Env = append(os.Environ(), "SLUICE_SMTP=127.0.0.1:1")
	cmd.Stdin = strings.NewReader("Subject: nowhere\n\nhi\n")
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exUnavailable {
		t.Fatalf("unreachable daemon: %v, want exit %d", err, exUnavailable)
	}
}

// The daemon's refusals map to sendmail's exit codes.
func TestSendmailExitCodes(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", sink.Addr)
	refuse := func(code int, enh smtp.EnhancedCode) error {
		return &smtp.SMTPError{Code: code, EnhancedCode: enh, Message: "no"}
	}
	sendmailRun := func(args ...string) (int, string) {
		var errb bytes.Buffer
		code := run(append([]string{"sendmail"}, args...), strings.NewReader("Subject: x\n\nhi\n"), &bytes.Buffer{}, &errb)
		return code, errb.String()
	}
	for _, tc := range []struct {
		name       string
		rcpt, data error
		want       int
	}{
		{"ok", nil, nil, exOK},
		{"unknown user", refuse(550, smtp.EnhancedCode{5, 1, 1}), nil, exNoUser},
		{"relay denied", refuse(554, smtp.EnhancedCode{5, 7, 1}), nil, exNoPerm},
		{"greylisted", refuse(451, smtp.EnhancedCode{4, 7, 1}), nil, exTempFail},
		{"too big", nil, refuse(552, smtp.EnhancedCode{5, 3, 4}), exDataErr},
		{"queue error", nil, refuse(451, smtp.EnhancedCode{4, 3, 0}), exTempFail},
	} {
		sink.OnRcpt(func(string) error { return tc.rcpt })
		sink.OnData(func(int) error { return tc.data })
		if code, stderr := sendmailRun("-i", "bob@remote.test"); code != tc.want {
			t.Errorf("%s: exit %d, want %d (%s)", tc.name, code, tc.want, stderr)
		}
	}
	if code, _ := sendmailRun("-i"); code != exUsage {
		t.Errorf("no recipient: exit %d, want %d", code, exUsage)
	}
	if code, _ := sendmailRun("-t"); code != exUsage {
		t.Errorf("-t without To: exit %d, want %d", code, exUsage)
	}
	if n := len(sink.Deliveries()); n != 1 {
		t.Errorf("sink got %d messages, want only the ok one", n)
	}
}

// sendmail -bs speaks SMTP on stdin and stdout, as PHP mailers use it: the
// session is the daemon's own, so its replies come back as they are, and
// a message sent through it is queued and delivered. The client waits for
// each reply, as Symfony's mailer does (sendmail_bs_test.go writes whole
// sessions at once).
func TestSendmailBS(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", startSinkDaemon(t, sink))
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errb bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- cmdSendmail([]string{"-bs"}, inR, outW, &errb)
		_ = outW.Close()
	}()
	var replies strings.Builder
	r := bufio.NewReader(outR)
	reply := func() { // one reply, its lines up to the one with a space after the code
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			replies.WriteString(l)
			if err != nil || len(l) < 4 || l[3] == ' ' {
				return
			}
		}
	}
	reply() // the greeting
	for _, cmd := range []string{"EHLO app.test", "MAIL FROM:<app@sluice.test>", "RCPT TO:<bob@remote.test>", "DATA",
		"Subject: via -bs\r\n\r\nhello\r\n.", "QUIT"} {
		if _, err := io.WriteString(inW, cmd+"\r\n"); err != nil {
			t.Fatal(err)
		}
		reply()
	}
	_ = inW.Close()
	if c := <-code; c != exOK {
		t.Fatalf("exit %d: %s", c, errb.String())
	}
	for _, want := range []string{"220 mx.sluice.test ESMTP", "250-mx.sluice.test Hello app.test", "354 ", "250 2.0.0 Ok: queued as ", "221 2.0.0 Bye"} {
		if !strings.Contains(replies.String(), want) {
			t.Errorf("missing %q in the replies:\n%s", want, replies.String())
		}
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if got.From != "app@sluice.test" || !strings.Contains(string(got.Data), "Subject: via -bs") {
		t.Fatalf("delivered from %q:\n%s", got.From, got.Data)
	}
}

// A malformed -f sender is refused before the daemon is asked, with
// EX_DATAERR as a malformed recipient is, not the EX_UNAVAILABLE of the
// daemon's 501 to MAIL.
func TestSendmailBadSenderIsDataErr(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", sink.Addr)
	for sender, want := range map[string]string{
		"x y":         "sendmail: bad sender \"x y\": not an address\n",
		"Alice <a@b>": "sendmail: bad sender \"Alice <a@b>\": not an address\n",
		"a@b, c@d":    "sendmail: bad sender \"a@b, c@d\": not an address\n",
	} {
		var stderr bytes.Buffer
		code := run([]string{"sendmail", "-i", "-f", sender, "bob@remote.test"}, strings.NewReader("Subject: x\n\nhi\n"), &bytes.Buffer{}, &stderr)
		if code != exDataErr || stderr.String() != want {
			t.Errorf("-f %q: exit %d, stderr %q; want %d, %q", sender, code, stderr.String(), exDataErr, want)
		}
	}
	if n := len(sink.Deliveries()); n != 0 {
		t.Fatalf("sink got %d messages", n)
	}
}

// Without -c, a bare name (cron's MAILTO=root) and the default sender are
// qualified with the running daemon's hostname, from its greeting, not
// with the embedded default config's (localhost.localdomain or this
// machine's name), which the daemon relays out as a remote domain.
func TestSendmailQualifiesWithTheDaemonsName(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	t.Setenv("SLUICE_SMTP", startSinkDaemon(t, sink))
	t.Setenv("USER", "cron")
	var errb bytes.Buffer
	if code := run([]string{"sendmail", "-i", "root"}, strings.NewReader("Subject: cron\n\nout\n"), &bytes.Buffer{}, &errb); code != exOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if got.From != "cron@mx.sluice.test" || !slices.Equal(got.Rcpts, []string{"root@mx.sluice.test"}) {
		t.Errorf("envelope %s → %v, want cron@mx.sluice.test → root@mx.sluice.test", got.From, got.Rcpts)
	}
	if !strings.Contains(string(got.Data), "\r\nFrom: <cron@mx.sluice.test>\r\n") {
		t.Errorf("From field:\n%s", got.Data)
	}
}
