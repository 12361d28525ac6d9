//go:build interop

package interop

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// Dovecot's submission service (Debian's dovecot-submissiond,
// scripts/install-deps.sh dovecot) in front of Sluice, as a Postfix site
// puts it in front of Postfix: Dovecot takes the client's AUTH and relays
// its mail to a Sluice listener whose xclient_hosts lists it, naming the
// client and the user with XCLIENT (submission_relay_trusted = yes). Its
// own `dovecot -F` on a free loopback port, config (dovecot/submission.conf),
// passwd-file, logs and rawlogs of the relay connections in the test's
// temp dir.

// startDovecotSubmission runs Dovecot's submission service relaying to
// relay, with users (name: password) in its passwd-file; it returns its
// address and the directory of its relay rawlogs.
func startDovecotSubmission(t *testing.T, relay string, users map[string]string) (addr, rawlog string) {
	t.Helper()
	if !fileExists("/usr/lib/dovecot/submission") {
		t.Fatal("Dovecot's submission service not installed (scripts/install-deps.sh dovecot installs dovecot-submissiond)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	nogroup, err := user.LookupGroupId(nobody.Gid)
	if err != nil {
		t.Fatal(err)
	}
	bin, dir := dovecotDir(t)
	var passwd strings.Builder
	for name, pass := range users {
		fmt.Fprintf(&passwd, "%s:{PLAIN}%s::::::\n", name, pass)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(passwd.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	// The submission process (user nobody) writes the rawlogs, and may
	// create its users' Maildirs.
	rawlog = filepath.Join(dir, "rawlog")
	for _, d := range []string{rawlog, filepath.Join(dir, "mail")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := template.ParseFiles(filepath.Join("dovecot", "submission.conf"))
	if err != nil {
		t.Fatal(err)
	}
	addr = freeAddr(t)
	var conf strings.Builder
	err = tmpl.Execute(&conf, map[string]string{"Dir": dir, "Port": port(addr), "RelayPort": port(relay),
		"User": nobody.Username, "Group": nogroup.Name})
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "submission.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || testing.Verbose() {
			for _, s := range relaySessions(t, rawlog) {
				t.Logf("Dovecot's relay session:\n%s", strings.Join(s, "\n"))
			}
		}
	})
	runDovecot(t, bin, dir, confFile, addr)
	return addr, rawlog
}

// relaySessions returns the commands Dovecot sent on each relay
// connection, from its rawlogs (one "TIMESTAMP LINE" a line), in the
// order the connections began.
func relaySessions(t *testing.T, rawlog string) [][]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(rawlog, "*.out"))
	sort.Strings(files)
	var sessions [][]string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cmds []string
		for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			if _, cmd, ok := strings.Cut(l, " "); ok {
				cmds = append(cmds, cmd)
			}
		}
		sessions = append(sessions, cmds)
	}
	return sessions
}

// xclients returns the XCLIENT commands of a relay session.
func xclients(cmds []string) []string {
	var out []string
	for _, c := range cmds {
		if strings.HasPrefix(c, "XCLIENT ") {
			out = append(out, c)
		}
	}
	return out
}

// topField is a message's first header field, unfolded lines joined
// with CRLF as they came.
func topField(data []byte) string {
	s := string(data)
	end := 0
	for {
		i := strings.Index(s[end:], "\r\n")
		if i < 0 {
			return s
		}
		end += i + 2
		if end >= len(s) || (s[end] != ' ' && s[end] != '\t') {
			return s[:end-2]
		}
	}
}

// TestDovecotSubmissionXClient: swaks, and then a client sending two
// messages on one session, submit with AUTH to Dovecot, which relays to
// Sluice. Their HELO name (255 octets, the longest) and user names are
// long enough that Dovecot's XCLIENT does not fit its 512-octet line, so
// it sends the rest in a second XCLIENT right after the first one's 220,
// before its EHLO (Postfix's XCLIENT_README asks for this): for the
// first user LOGIN goes in the first command and ADDR alone in the
// second, for the second user HELO and PROTO alone in the first. Sluice
// answered such a second XCLIENT 503 5.5.1 (no EHLO yet), which Dovecot
// ignores, relaying the mail as from itself. Now Sluice's Received field
// names the client's address and the user, as for one XCLIENT; its HELO
// is Dovecot's own EHLO after the XCLIENTs (its hostname), which replaces
// their HELO=, as Postfix's ehlo_cmd replaces it.
func TestDovecotSubmissionXClient(t *testing.T) {
	swaks := need(t, "swaks")
	helo := strings.Repeat(strings.Repeat("h", 63)+".", 3) + strings.Repeat("h", 63)
	first := strings.Repeat("a", 190) + "@example.org"
	second := strings.Repeat("b", 228) + "@example.org"
	sink := testlib.NewSink(t, "127.0.0.1:0")
	relay := freeAddr(t)
	startSluiceWith(t, sink.Addr, fmt.Sprintf(`
[[listener]]
name = "behind-dovecot"
listen = %q
xclient_hosts = ["127.0.0.1/32"]
received_auth_user = true
[auth.senders]
%q = ["@example.org"]
%q = ["@example.org"]
`, relay, first, second))
	sub, rawlog := startDovecotSubmission(t, relay, map[string]string{first: "first pass", second: "second pass"})
	received := func(d testlib.Delivery, ip, user string) {
		t.Helper()
		got := topField(d.Data)
		want := "Received: from submission.dovecot.test ("
		wantRest := "[" + ip + "])\r\n\t(Authenticated sender: " + user + ")\r\n\tby mx.sluice.test (Sluice) with ESMTPA id "
		if !strings.HasPrefix(got, want) || !strings.Contains(got, wantRest) {
			t.Errorf("Sluice's Received field does not name the client %s and its user:\n%s", ip, got)
		}
	}

	host, p, _ := net.SplitHostPort(sub)
	out, err := exec.Command(swaks, "--server", host, "--port", p, "--local-interface", "127.0.0.9", "--helo", helo,
		"--auth", "PLAIN", "--auth-user", first, "--auth-password", "first pass",
		"--from", "alice@example.org", "--to", "bob@example.net",
		"--header", "Subject: interop-dovecot-submission", "--body", "via Dovecot's submission relay").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "<-  250 2.0.0 Ok: queued as ") {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	received(sink.WaitN(t, 1, 30*time.Second)[0], "127.0.0.9", first)

	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.10")}, Timeout: 10 * time.Second}
	conn, err := dialer.Dial("tcp", sub)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", second, "second pass")); err != nil {
		t.Fatalf("AUTH as the second user: %v", err)
	}
	for i := 1; i <= 2; i++ {
		msg := fmt.Sprintf("Subject: interop-dovecot-submission %d\r\n\r\nmessage %d of the session\r\n", i, i)
		if err := c.SendMail("carol@example.org", []string{"dave@example.net"}, strings.NewReader(msg)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := c.Quit(); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	ds := sink.WaitN(t, 3, 30*time.Second)
	for _, d := range ds[1:] {
		received(d, "127.0.0.10", second)
	}

	// The test's premise: Dovecot split its XCLIENT as described, and
	// relayed both messages of the second session on one connection.
	sessions := relaySessions(t, rawlog)
	if len(sessions) != 2 {
		t.Fatalf("%d relay sessions in Dovecot's rawlogs, want 2", len(sessions))
	}
	for i, want := range [][2]string{
		{"HELO=" + helo + " PROTO=ESMTP LOGIN=" + first + " PORT=", "ADDR=127.0.0.9"},
		{"HELO=" + helo + " PROTO=ESMTP", "LOGIN=" + second + " PORT="},
	} {
		x := xclients(sessions[i])
		if len(x) != 2 || !strings.HasPrefix(x[0], "XCLIENT "+want[0]) || strings.Contains(x[0], "ADDR=") ||
			!strings.HasPrefix(x[1], "XCLIENT "+want[1]) || !strings.Contains(x[1], "ADDR=") {
			t.Errorf("relay session %d: Dovecot sent %q, want two XCLIENTs, %q... then %q...", i+1, x, want[0], want[1])
		}
	}
	mails := 0
	for _, cmd := range sessions[1] {
		if strings.HasPrefix(cmd, "MAIL FROM:") {
			mails++
		}
	}
	if mails != 2 {
		t.Errorf("the second relay session has %d MAIL commands, want 2", mails)
	}
}
