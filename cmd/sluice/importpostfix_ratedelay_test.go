package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// main.cf's default_destination_rate_delay becomes [delivery]
// rate_delay (seconds when it has no unit; 0 writes nothing);
// smtp_destination_rate_delay is listed as not carried over.
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
		{main: "smtp_destination_rate_delay = 1s\n", listed: "smtp_destination_rate_delay"},
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
