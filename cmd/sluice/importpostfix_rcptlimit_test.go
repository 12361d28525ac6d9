package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// main.cf's default_destination_recipient_limit becomes [delivery]
// recipients_per_transaction, and so does smtp_destination_recipient_limit
// (smtp is default_transport, which takes the MX and relayhost mail no
// route rule takes); Postfix's 0, no limit, is -1; 50, the default of
// both, writes nothing.
func TestImportPostfixRecipientLimit(t *testing.T) {
	for _, c := range []struct {
		main    string
		want    int
		listed  string
		comment string
	}{
		{main: "", want: 50},
		{main: "default_destination_recipient_limit = 20\n", want: 20},
		{main: "default_destination_recipient_limit = 0\n", want: -1},
		{main: "default_destination_recipient_limit = 50\n", want: 50},
		{main: "smtp_destination_recipient_limit = 10\n", want: 10, comment: "(smtp is default_transport"},
		{main: "default_destination_recipient_limit = 5\nsmtp_destination_recipient_limit = 100\n", want: 100},
		{main: "smtp_destination_recipient_limit = 1\n", want: 1, comment: "Postfix counts the transport's concurrency and rate delay per recipient"},
		{main: "default_destination_recipient_limit = lots\n", want: 50, listed: "default_destination_recipient_limit"},
		{main: "default_destination_recipient_limit = -3\n", want: 50, listed: "default_destination_recipient_limit"},
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.main, "master.cf": "smtp inet n - y - - smtpd\n"})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
		if err != nil {
			t.Fatalf("%q: core/config refuses the output: %v\n%s", c.main, err, out)
		}
		if got := cfg.Delivery.RecipientsPerTransaction; got != c.want {
			t.Errorf("%q: recipients_per_transaction %d, want %d\n%s", c.main, got, c.want, out)
		}
		if c.want == 50 && strings.Contains(out, "recipients_per_transaction") {
			t.Errorf("%q: wrote the default:\n%s", c.main, out)
		}
		if c.comment != "" && !strings.Contains(out, c.comment) {
			t.Errorf("%q: no %q in the comment:\n%s", c.main, c.comment, out)
		}
		listed := ""
		if strings.Contains(out, "\n# Read but not carried over:\n") {
			listed = " " + strings.Join(notCarried(t, out), " ") + " "
		}
		if c.listed != "" && !strings.Contains(listed, " "+c.listed+" ") {
			t.Errorf("%q: %s not listed as not carried over: %q", c.main, c.listed, listed)
		}
		if c.listed == "" && strings.Contains(listed, "recipient_limit") {
			t.Errorf("%q: listed as not carried over: %q", c.main, listed)
		}
	}
}

// main.cf's <transport>_destination_recipient_limit, which Postfix's
// queue manager applies to the master.cf transport of that name, becomes
// the recipient_limit= of the route rules naming the transport where it
// differs from [delivery]'s (default_transport's): an smtp(8)
// transport's, lmtp's (whose default is default_destination_recipient_
// limit too), -1 for Postfix's 0. One for a transport no rule names is
// listed, and so is master.cf's -o of one, which splits nothing in
// Postfix. The draft passes check-config.
func TestImportPostfixTransportRecipientLimit(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the route plugin: this test binary as sluice
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\ntransport_maps = hash:/etc/postfix/transport\n" +
			"virtual_mailbox_domains = hosted.example\nvirtual_transport = lmtp:inet:[store.example]:24\n" +
			"smtp_destination_recipient_limit = 20\nslow_destination_recipient_limit = 2\nrelay_destination_recipient_limit = 0\n" +
			"bulk_destination_recipient_limit = 5\nslow_destination_rate_delay = 1s\n",
		"master.cf": "smtp inet n - y - - smtpd\nslow unix - - y - - smtp\n  -o smtp_bind_address=192.0.2.9\n" +
			"relay unix - - y - - smtp\n  -o smtp_destination_recipient_limit=9\nlmtp unix - - n - - lmtp\n",
		"transport": "slow.example slow:[slow.example.net]\nrelay.example relay:[relay.example.net]:2525\nplain.example smtp:[plain.example.net]\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	src := out + "\n[dns]\nservers = [\"127.0.0.1:1\"]\n"
	cfg, err := config.Parse("sluice.toml", []byte(src))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	if got := cfg.Delivery.RecipientsPerTransaction; got != 20 {
		t.Errorf("[delivery] recipients_per_transaction %d, want 20\n%s", got, out)
	}
	var rules []string
	for _, m := range regexp.MustCompile(`(?m)^match = "(.*)"\ntransport = "(.*)"$`).FindAllStringSubmatch(out, -1) {
		rules = append(rules, m[1]+" "+m[2])
	}
	want := []string{
		"slow.example smtp:[slow.example.net]?source=192.0.2.9&rate_delay=1s&recipient_limit=2",
		"relay.example smtp:[relay.example.net]:2525?recipient_limit=-1",
		"plain.example smtp:[plain.example.net]",
		"hosted.example lmtp:inet:[store.example]:24?recipient_limit=50",
	}
	if !slices.Equal(rules, want) {
		t.Errorf("rules\n%q\nwant\n%q\n%s", rules, want, out)
	}
	if !strings.Contains(out, "no lmtp_destination_recipient_limit or default_destination_recipient_limit (50)") {
		t.Errorf("the lmtp rule's comment does not say where its 50 comes from:\n%s", out)
	}
	listed := " " + strings.Join(notCarried(t, out), " ") + " "
	for _, p := range []string{"smtp_destination_recipient_limit", "slow_destination_recipient_limit", "relay_destination_recipient_limit"} {
		if strings.Contains(listed, " "+p+" ") {
			t.Errorf("%s listed as not carried over: %q", p, listed)
		}
	}
	if !strings.Contains(listed, " bulk_destination_recipient_limit ") || !strings.Contains(out, "no route rule delivers by transport bulk") {
		t.Errorf("bulk_destination_recipient_limit not listed:\n%s", out)
	}
	if !regexp.MustCompile(`master\.cf:\d+ relay -o smtp_destination_recipient_limit=9\n#\s+no effect in Postfix: the queue manager reads the recipient limit`).MatchString(out) {
		t.Errorf("master.cf's -o smtp_destination_recipient_limit not listed with why:\n%s", out)
	}
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
		t.Errorf("check-config: exit %d: %s%s", code, stderr.String(), stdout.String())
	}
}
