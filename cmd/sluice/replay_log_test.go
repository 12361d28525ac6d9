package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// replay writes the log a daemon would, on stderr: what a plugin logs at
// its hooks and the stack of its panic, which a plugin author trying a
// stage with replay looks for. They went nowhere before. The result on
// stdout stays free of log lines.
func TestReplayLogsPluginOutput(t *testing.T) {
	talker := strconv.Quote(testlib.Build(t, "./internal/testplugins/talker"))
	for _, tc := range []struct {
		subject string
		want    []string
	}{
		{"hello", []string{`msg="plugin stderr" stage=talk line="`, `talker: data hook saw \"hello\""`,
			`level=WARN msg="talker record" stage=talk from=plugin subject=hello`}},
		{"panic", []string{`level=ERROR msg="plugin panicked" stage=talk`, `goroutine `,
			`level=WARN msg="stage failed" stage=talk hook=data`}},
	} {
		cfg, msg := replayFiles(t, "mx.sluice.test", "[[stage]]\nname = \"talk\"\nplugin = "+talker+"\n",
			"From: alice@example.org\nTo: bob@example.net\nSubject: "+tc.subject+"\n\nhi\n")
		var out, errb bytes.Buffer
		if code := run([]string{"replay", "-c", cfg, msg}, nil, &out, &errb); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.subject, code, errb.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.subject, w, errb.String())
			}
		}
		if strings.Contains(out.String(), "level=") || !strings.Contains(out.String(), "outcome: ") {
			t.Errorf("%s: stdout is not the result alone:\n%s", tc.subject, out.String())
		}
	}
}
