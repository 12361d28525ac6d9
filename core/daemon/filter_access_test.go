package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// replaceFile puts content at path at once, by a rename, so that the
// plugin reading the table again never reads it half written.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// Postfix access tables in the filter plugin's process, end to end over
// SMTP: a check_sender_access hash table refuses a sender with Postfix's
// reply, a check_recipient_access regexp table's PREPEND reaches the
// delivered message, the trace names the table's line, an edit of the
// table is read while the daemon runs, and check-config refuses a table
// it cannot read, naming the file and line.
func TestFilterAccessTablesOverSMTP(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice")
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dir := t.TempDir()
	senders := filepath.Join(dir, "sender_access")
	replaceFile(t, senders, "spam.example  REJECT Go away\n")
	rcpts := filepath.Join(dir, "rcpt.regexp")
	replaceFile(t, rcpts, "/^(bob)@remote\\.test$/ PREPEND X-Access: $1 checked\n")
	src := func(senderTable string) string {
		return fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name   = "senders"
hook   = "mail"
access = "hash:%s"
[[stage.config.rules]]
name   = "rcpts"
hook   = "rcpt"
access = "regexp:%s"
`, filepath.Join(dir, "data"), relayTo(sink), senderTable, rcpts)
	}
	d, err := Start(Options{Config: mustParse(t, src(senders)), Logger: discardLog(), Self: self})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	addr := d.SMTPAddrs()["mx"].String()
	sendFrom := func(from string) (string, error) {
		return testlib.Send(addr, from, []string{"bob@remote.test"}, testlib.Message(from, "bob@remote.test", "hi", "hello"))
	}

	_, err = sendFrom("x@spam.example")
	if err == nil || err.Error() != "554 5.7.1 <x@spam.example>: Sender address rejected: Go away" {
		t.Fatalf("refused sender: %v, want Postfix's 554 reply", err)
	}

	r, err := sendFrom("alice@sluice.test")
	if err != nil {
		t.Fatal(err)
	}
	got := sink.WaitN(t, 1, 20*time.Second)
	if !strings.Contains(string(got[0].Data), "X-Access: bob checked\r\n") {
		t.Errorf("delivered message has no PREPEND field:\n%s", got[0].Data)
	}
	found := false
	for _, e := range getTrace(t, d, queuedID(t, r)).Entries {
		if e.Stage == "filter" && e.Hook == "rcpt" && strings.Contains(e.Reason, `rule "rcpts" (add_header)`) {
			found = strings.Contains(e.Reason, rcpts+" line 1")
		}
	}
	if !found {
		t.Error("trace has no filter rcpt entry naming the table's line")
	}

	// An edit is read while the daemon runs.
	replaceFile(t, senders, "spam.example  REJECT Go away\nsluice.test   DEFER Not today\n")
	if _, err := sendFrom("alice@sluice.test"); err == nil || err.Error() != "450 4.7.1 <alice@sluice.test>: Sender address rejected: Not today" {
		t.Fatalf("after the edit: %v, want the new entry's 450", err)
	}

	// check-config reads the tables too.
	bad := filepath.Join(dir, "bad_access")
	replaceFile(t, bad, "spam.example REJECT\nsluice.test permit_mynetworks\n")
	_, err = Check(mustParse(t, src(bad)), self)
	if err == nil || !strings.Contains(err.Error(), bad+":2:") || !strings.Contains(err.Error(), "permit_mynetworks") {
		t.Fatalf("check-config: %v, want the table's file and line", err)
	}
}
