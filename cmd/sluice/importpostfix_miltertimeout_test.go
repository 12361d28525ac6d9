package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/config"
)

// A milter stage's timeout is the longer of the milter's connect and
// command timeouts, its data_timeout the content timeout (main.cf's,
// Postfix's defaults, or its own { … } settings); the shorter of connect
// and command set by hand, and values that are not positive times, are
// listed as not carried over.
func TestImportPostfixMilterTimeouts(t *testing.T) {
	const master = "smtp inet n - y - - smtpd\n"
	for _, c := range []struct {
		name, main string
		want       [][2]time.Duration // each stage's timeout and data_timeout
		lines      []string           // in the output
		listed     []string           // not carried over
	}{
		{name: "defaults", main: "smtpd_milters = inet:127.0.0.1:8891\n",
			want: [][2]time.Duration{{30 * time.Second, 300 * time.Second}},
			lines: []string{"# milter_command_timeout (Postfix's default, 30s): the longer", "timeout = \"30s\"\n",
				"# milter_content_timeout (Postfix's default, 300s): the milter's content timeout", "data_timeout = \"300s\"\n"}},
		{name: "main.cf", main: "milter_command_timeout = 45\nmilter_content_timeout = 20s\nmilter_connect_timeout = 1m\n" +
			"smtpd_milters = inet:127.0.0.1:8891\n",
			want:   [][2]time.Duration{{time.Minute, 20 * time.Second}},
			lines:  []string{"# milter_connect_timeout = 1m: the longer", "timeout = \"1m\"\n", "# milter_content_timeout = 20s: the milter's", "data_timeout = \"20s\"\n"},
			listed: []string{"milter_command_timeout"}},
		{name: "a tie names the one set", main: "milter_connect_timeout = 30s\nsmtpd_milters = inet:127.0.0.1:8891\n",
			want:  [][2]time.Duration{{30 * time.Second, 300 * time.Second}},
			lines: []string{"# milter_connect_timeout = 30s: the longer", "timeout = \"30s\"\n"}},
		{name: "per milter", main: "milter_content_timeout = 10m\n" +
			"smtpd_milters = { inet:127.0.0.1:8891, content_timeout = 2w, command_timeout = 40s, connect_timeout = 10s }, inet:127.0.0.1:8892\n" +
			"non_smtpd_milters = { inet:127.0.0.1:8893, content_timeout = 0s, command_timeout = soon, protocol = 6 }\n",
			want: [][2]time.Duration{{40 * time.Second, 14 * 24 * time.Hour}, {30 * time.Second, 10 * time.Minute}, {30 * time.Second, 10 * time.Minute}},
			lines: []string{"# smtpd_milters's command_timeout = 40s: the longer", "timeout = \"40s\"\n",
				"# smtpd_milters's content_timeout = 2w: the milter's", "data_timeout = \"14d\"\n",
				"# milter_content_timeout = 10m: the milter's", "data_timeout = \"10m\"\n",
				"#   non_smtpd_milters inet:127.0.0.1:8893 content_timeout=0s\n#       not a positive time: milter_content_timeout = 10m taken\n",
				"#   non_smtpd_milters inet:127.0.0.1:8893 command_timeout=soon\n#       not a positive time: milter_command_timeout (Postfix's default, 30s) taken\n",
				"#   non_smtpd_milters inet:127.0.0.1:8893 protocol = 6\n"},
			listed: []string{"smtpd_milters"}}, // its connect_timeout = 10s, shorter
		{name: "not a time", main: "milter_content_timeout = 0\nmilter_command_timeout = 1y\nsmtpd_milters = inet:127.0.0.1:8891\n",
			want:   [][2]time.Duration{{30 * time.Second, 300 * time.Second}},
			lines:  []string{"#   milter_content_timeout = 0\n#       not a positive time: Postfix's default, 300s, taken\n", "data_timeout = \"300s\"\n"},
			listed: []string{"milter_content_timeout", "milter_command_timeout"}},
		{name: "no milters", main: "milter_content_timeout = 10m\n",
			lines:  []string{"#   milter_content_timeout = 10m\n#       a milter stage's data_timeout, with smtpd_milters or non_smtpd_milters: no milter was imported\n"},
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
			var got [][2]time.Duration
			for _, s := range cfg.Stages {
				if s.Milter != "" {
					got = append(got, [2]time.Duration{s.Timeout.Duration, s.DataTimeout.Duration})
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("milter stages' timeouts %v, want %v\n%s", got, c.want, out)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("milter%d: timeout, data_timeout %v, want %v\n%s", i+1, got[i], c.want[i], out)
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
