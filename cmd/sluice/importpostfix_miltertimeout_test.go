package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A milter stage's timeout is the longest of the milter's connect,
// command and content timeouts (main.cf's, Postfix's defaults, or its
// own { … } settings), as the stage's one timeout bounds every step,
// end of message included; the shorter ones set by hand, and values
// that are not positive times, are listed as not carried over.
func TestImportPostfixMilterTimeouts(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n"
	for _, c := range []struct {
		name, main string
		want       []time.Duration // each stage's timeout
		lines      []string        // in the output
		listed     []string        // not carried over
	}{
		{name: "defaults", main: "smtpd_milters = inet:127.0.0.1:8891\n",
			want:  []time.Duration{300 * time.Second},
			lines: []string{"# milter_content_timeout (Postfix's default, 300s): the longest", "timeout = \"300s\"\n"}},
		{name: "main.cf", main: "milter_command_timeout = 45\nmilter_content_timeout = 20s\nmilter_connect_timeout = 1m\n" +
			"smtpd_milters = inet:127.0.0.1:8891\n",
			want:   []time.Duration{time.Minute},
			lines:  []string{"# milter_connect_timeout = 1m: the longest", "timeout = \"1m\"\n"},
			listed: []string{"milter_command_timeout", "milter_content_timeout"}},
		{name: "a tie names the one set", main: "milter_command_timeout = 5m\nsmtpd_milters = inet:127.0.0.1:8891\n",
			want:  []time.Duration{5 * time.Minute},
			lines: []string{"# milter_command_timeout = 5m: the longest", "timeout = \"5m\"\n"}},
		{name: "per milter", main: "milter_content_timeout = 10m\n" +
			"smtpd_milters = { inet:127.0.0.1:8891, content_timeout = 2w, command_timeout = 30s }, inet:127.0.0.1:8892\n" +
			"non_smtpd_milters = { inet:127.0.0.1:8893, content_timeout = 0s, connect_timeout = soon, protocol = 6 }\n",
			want: []time.Duration{14 * 24 * time.Hour, 10 * time.Minute, 10 * time.Minute},
			lines: []string{"# smtpd_milters's content_timeout = 2w: the longest", "timeout = \"14d\"\n",
				"# milter_content_timeout = 10m: the longest", "timeout = \"10m\"\n",
				"#   non_smtpd_milters inet:127.0.0.1:8893 content_timeout=0s\n#       not a positive time: milter_content_timeout = 10m taken\n",
				"#   non_smtpd_milters inet:127.0.0.1:8893 connect_timeout=soon\n#       not a positive time: milter_connect_timeout (Postfix's default, 30s) taken\n",
				"#   non_smtpd_milters inet:127.0.0.1:8893 protocol = 6\n"},
			listed: []string{"smtpd_milters"}}, // its command_timeout = 30s, shorter
		{name: "not a time", main: "milter_content_timeout = 0\nmilter_command_timeout = 1y\nsmtpd_milters = inet:127.0.0.1:8891\n",
			want:   []time.Duration{300 * time.Second},
			lines:  []string{"#   milter_content_timeout = 0\n#       not a positive time: Postfix's default, 300s, taken\n", "timeout = \"300s\"\n"},
			listed: []string{"milter_content_timeout", "milter_command_timeout"}},
		{name: "no milters", main: "milter_content_timeout = 10m\n",
			lines:  []string{"#   milter_content_timeout = 10m\n#       a milter stage's timeout, with smtpd_milters or non_smtpd_milters: no milter was imported\n"},
			listed: []string{"milter_content_timeout"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + c.main, "master.cf": master})
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse("sluice.toml", []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"))
			if err != nil {
				t.Fatalf("core/config refuses the output: %v\n%s", err, out)
			}
			var got []time.Duration
			for _, s := range cfg.Stages {
				if s.Milter != "" {
					got = append(got, s.Timeout.Duration)
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("milter stages' timeouts %v, want %v\n%s", got, c.want, out)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("milter%d: timeout %v, want %v\n%s", i+1, got[i], c.want[i], out)
				}
			}
			for _, l := range c.lines {
				if !strings.Contains(out, l) {
					t.Errorf("want %q in:\n%s", l, out)
				}
			}
			listed := notCarried(t, out)
			for _, l := range c.listed {
				if !strings.Contains(" "+strings.Join(listed, " ")+" ", " "+l+" ") {
					t.Errorf("%s not listed as not carried over: %q\n%s", l, listed, out)
				}
			}
			for _, p := range []string{"milter_connect_timeout", "milter_command_timeout", "milter_content_timeout"} {
				carried := strings.Contains(out, "# "+p+" = ") && !strings.Contains(out, "#   "+p+" = ")
				if strings.Contains(c.main, p+" =") && !carried && !strings.Contains(strings.Join(listed, " "), p) {
					t.Errorf("%s neither carried over nor listed\n%s", p, out)
				}
			}
		})
	}
}
