package config

import (
	"strings"
	"testing"
	"time"
)

// A stage's data_timeout defaults to its timeout; set, it is kept; a
// negative or garbled one is refused at its line.
func TestStageDataTimeout(t *testing.T) {
	const base = minimal + "[dns]\nservers = [\"127.0.0.1:1\"]\n"
	c, err := Parse("sluice.toml", []byte(base+`
[[stage]]
name = "a"
milter = "inet:127.0.0.1:8891"
timeout = "30s"

[[stage]]
name = "b"
milter = "inet:127.0.0.1:8892"
timeout = "30s"
data_timeout = "5m"

[[stage]]
name = "c"
milter = "inet:127.0.0.1:8893"
data_timeout = "1m"
`))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][2]time.Duration{{30 * time.Second, 30 * time.Second}, {30 * time.Second, 5 * time.Minute}, {5 * time.Second, time.Minute}} {
		if s := c.Stages[i]; s.Timeout.Duration != want[0] || s.DataTimeout.Duration != want[1] {
			t.Errorf("stage %s: timeout %v data_timeout %v, want %v %v", s.Name, s.Timeout.Duration, s.DataTimeout.Duration, want[0], want[1])
		}
	}
	for _, v := range []string{`"-1s"`, `"soon"`, `5`} {
		_, err := Parse("sluice.toml", []byte(base+"\n[[stage]]\nname = \"a\"\nmilter = \"inet:127.0.0.1:8891\"\ndata_timeout = "+v+"\n"))
		if err == nil || !strings.Contains(err.Error(), "data_timeout") || !strings.Contains(err.Error(), ":10:") {
			t.Errorf("data_timeout = %s: %v, want an error naming data_timeout at line 10", v, err)
		}
	}
}
