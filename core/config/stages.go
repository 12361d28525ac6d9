package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
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
// its error). A milter's address is checked by milterAddr.
func (c *Config) checkStageTarget(s Stage) error {
	if s.Milter != "" {
		_, err := c.milterAddr(s.Milter)
		return err
	}
	if !strings.Contains(s.Plugin, "/") {
		return nil
	}
	path := c.Resolve(s.Plugin)
	// The error names the stage, the path as written and the file it
	// resolved to: relative to a config given by a relative path, the
	// resolved one alone would be as puzzling as the written one.
	fi, err := os.Stat(path)
	if err != nil {
		return errors.New(fileError(fmt.Sprintf("stage %q: plugin", s.Name), s.Plugin, path, err))
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("stage %q: plugin %s is not an executable file", s.Name, shownPath(s.Plugin, path))
	}
	return nil
}

// checkStageListeners checks a stage's listeners: names of [[listener]]s,
// and at least one, since an empty list would be a stage that never runs
// for any session; leaving the key out is how to mean every listener.
func (c *Config) checkStageListeners(i int, s Stage) error {
	if len(s.Listeners) == 0 {
		if c.written("stage", strconv.Itoa(i), "listeners") {
			return fmt.Errorf("stage %q: listeners = [] serves no session: omit the key for all listeners", s.Name)
		}
		return nil
	}
	names := make([]string, len(c.Listeners))
	for j, l := range c.Listeners {
		names[j] = l.Name
	}
	for _, n := range s.Listeners {
		if !slices.Contains(names, n) {
			return fmt.Errorf("stage %q: no listener %q (have: %s)", s.Name, n, strings.Join(names, ", "))
		}
	}
	return nil
}

// SkipNetworkPrefixes returns the stage's skip_networks as netip
// prefixes; nil when it has none.
func (s Stage) SkipNetworkPrefixes() []netip.Prefix {
	if len(s.SkipNetworks) == 0 {
		return nil
	}
	out := make([]netip.Prefix, len(s.SkipNetworks))
	for i, p := range s.SkipNetworks {
		out[i] = p.Prefix
	}
	return out
}
