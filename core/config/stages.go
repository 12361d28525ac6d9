package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// minRetry is the shortest [delivery] retry interval. "0s" retried a
// deferred message in a tight loop, thousands of attempts a second. A
// floor of one second is the aim; it is 10ms for now because the daemon
// crash test (cmd/sluice/crash_test.go) retries every 20ms.
const minRetry = 10 * time.Millisecond

// checkStageTarget checks what a stage runs. A plugin path (anything with
// a slash) must be an executable file; a bare name is a first-party
// plugin, which the daemon knows and checks (Config.StageError positions
// its error). A milter is tcp:HOST:PORT or unix:PATH.
func (c *Config) checkStageTarget(s Stage) error {
	if s.Milter != "" {
		switch {
		case strings.HasPrefix(s.Milter, "tcp:"):
			if err := checkHostPort(strings.TrimPrefix(s.Milter, "tcp:"), 1); err != nil {
				return fmt.Errorf("milter %q must be tcp:HOST:PORT or unix:PATH: %v", s.Milter, err)
			}
		case strings.HasPrefix(s.Milter, "unix:"):
		default:
			return fmt.Errorf("milter %q must be tcp:HOST:PORT or unix:PATH", s.Milter)
		}
		return nil
	}
	if !strings.Contains(s.Plugin, "/") {
		return nil
	}
	path := c.Resolve(s.Plugin)
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("plugin %s", err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("plugin %s is not an executable file", path)
	}
	return nil
}
