package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// main.cf's default_destination_rate_delay becomes [delivery]
// rate_delay (seconds when it has no unit; 0 writes nothing), and so
// does smtp_destination_rate_delay: smtp is default_transport, which
// takes the MX and relayhost mail no route rule takes.
func TestImportPostfixRateDelay(t *testing.T) {
	for _, c := range []struct {
		main   string
		want   time.Duration
		listed string
	}{
		{main: "default_destination_rate_delay = 2\n", want: 2 * time.Second},
		{main: "default_destination_rate_delay = 1m\n", want: time.Minute},
		{main: "default_destination_rate_delay = 0s\n"},
		{main: "default_destination_rate_delay = soon\n", listed: "default_destination_rate_delay"},
		{main: "smtp_destination_rate_delay = 1s\n", want: time.Second},
		{main: "default_destination_rate_delay = 5s\nsmtp_destination_rate_delay = 0\n"},
		{main: "default_destination_rate_delay = 1d\n", want: 24 * time.Hour},
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.main, "master.cf": "smtp inet n - y - - smtpd\n"})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
		if err != nil {
			t.Fatalf("%s: core/config refuses the output: %v\n%s", c.main, err, out)
		}
		if got := cfg.Delivery.RateDelay.Duration; got != c.want {
			t.Errorf("%s: rate_delay %v, want %v\n%s", c.main, got, c.want, out)
		}
		listed := " " + strings.Join(notCarried(t, out), " ") + " "
		if c.listed != "" && !strings.Contains(listed, " "+c.listed+" ") {
			t.Errorf("%s: %s not listed as not carried over: %q", c.main, c.listed, listed)
		}
		if c.listed == "" && strings.Contains(listed, "rate_delay") {
			t.Errorf("%s: listed as not carried over: %q", c.main, listed)
		}
	}
}

// main.cf's <transport>_destination_rate_delay, which Postfix's queue
// manager applies to the master.cf transport of that name, becomes the
// rate_delay= of the route rules naming the transport, where it differs
// from [delivery] rate_delay (default_transport's); 0s where the
// transport's is off. One for a transport no rule names is listed, and
// so is master.cf's -o of one, which paces nothing in Postfix.
func TestImportPostfixTransportRateDelay(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the route plugin: this test binary as sluice
	for _, c := range []struct {
		main  string
		delay time.Duration
		rules []string
	}{
		{
			main:  "default_destination_rate_delay = 2s\nslow_destination_rate_delay = 1m\nrelay_destination_rate_delay = 0\nbulk_destination_rate_delay = 5s\n",
			delay: 2 * time.Second,
			rules: []string{"slow.example smtp:[slow.example.net]?source=192.0.2.9&rate_delay=1m", "relay.example smtp:[relay.example.net]:2525?rate_delay=0s", "plain.example smtp:[plain.example.net]"},
		},
		{
			main:  "smtp_destination_rate_delay = 30\nslow_destination_rate_delay = 2h\nbulk_destination_rate_delay = 5s\n",
			delay: 30 * time.Second,
			rules: []string{"slow.example smtp:[slow.example.net]?source=192.0.2.9&rate_delay=2h", "relay.example smtp:[relay.example.net]:2525?rate_delay=0s", "plain.example smtp:[plain.example.net]"},
		},
	} {
		dir := writePostfix(t, "postfix", map[string]string{
			"main.cf": "myhostname = mx.example.org\ntransport_maps = hash:/etc/postfix/transport\n" + c.main,
			"master.cf": "smtp inet n - y - - smtpd\nslow unix - - y - - smtp\n  -o smtp_bind_address=192.0.2.9\n" +
				"relay unix - - y - - smtp\n  -o smtp_destination_rate_delay=9s\n",
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
		if got := cfg.Delivery.RateDelay.Duration; got != c.delay {
			t.Errorf("%q: [delivery] rate_delay %v, want %v\n%s", c.main, got, c.delay, out)
		}
		var rules []string
		for _, m := range regexp.MustCompile(`(?m)^match = "(.*)"\ntransport = "(.*)"$`).FindAllStringSubmatch(out, -1) {
			rules = append(rules, m[1]+" "+m[2])
		}
		if !slices.Equal(rules, c.rules) {
			t.Errorf("%q: rules\n%q\nwant\n%q\n%s", c.main, rules, c.rules, out)
		}
		listed := " " + strings.Join(notCarried(t, out), " ") + " "
		for _, p := range []string{"default_destination_rate_delay", "smtp_destination_rate_delay", "slow_destination_rate_delay", "relay_destination_rate_delay"} {
			if strings.Contains(listed, " "+p+" ") {
				t.Errorf("%q: %s listed as not carried over: %q", c.main, p, listed)
			}
		}
		if !strings.Contains(listed, " bulk_destination_rate_delay ") || !strings.Contains(out, "no route rule delivers by transport bulk") {
			t.Errorf("%q: bulk_destination_rate_delay not listed:\n%s", c.main, out)
		}
		if !regexp.MustCompile(`master\.cf:\d+ relay -o smtp_destination_rate_delay=9s\n#\s+no effect in Postfix`).MatchString(out) {
			t.Errorf("%q: master.cf's -o smtp_destination_rate_delay not listed with why:\n%s", c.main, out)
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
}
