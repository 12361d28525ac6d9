package dist

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unitKeys reads a systemd unit as section → key → value, the last
// value of a key winning, as systemd has it for these keys.
func unitKeys(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string]map[string]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			keys[section] = map[string]string{}
		default:
			k, v, _ := strings.Cut(line, "=")
			keys[section][k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// unitSpan parses the systemd time spans the unit writes: a number and
// s, min or h (systemd.time(7)).
func unitSpan(t *testing.T, s string) time.Duration {
	t.Helper()
	for _, u := range []struct {
		suffix string
		unit   time.Duration
	}{{"min", time.Minute}, {"s", time.Second}, {"h", time.Hour}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			if v, err := strconv.Atoi(n); err == nil {
				return time.Duration(v) * u.unit
			}
		}
	}
	t.Fatalf("time span %q: want a number and s, min or h", s)
	return 0
}

// A service that fails at every start (a config that does not load) is
// restarted StartLimitBurst times within StartLimitIntervalSec and then
// left failed: the limit is in [Unit], where systemd reads it, and the
// restarts come fast enough to reach it (systemd's default, 5 starts in
// 10 s, never trips at one every RestartSec=5s).
func TestUnitStopsRestartingABrokenService(t *testing.T) {
	u := unitKeys(t, "systemd/sluice.service")
	if u["Service"]["Restart"] != "on-failure" {
		t.Fatalf("Restart=%q, want on-failure", u["Service"]["Restart"])
	}
	interval, burstText := u["Unit"]["StartLimitIntervalSec"], u["Unit"]["StartLimitBurst"]
	if interval == "" || burstText == "" {
		t.Fatalf("[Unit] lacks StartLimitIntervalSec or StartLimitBurst: %v", u["Unit"])
	}
	burst, err := strconv.Atoi(burstText)
	if err != nil || burst < 1 {
		t.Fatalf("StartLimitBurst=%q", burstText)
	}
	restart := unitSpan(t, u["Service"]["RestartSec"])
	// burst starts of a service failing at once span (burst-1) waits.
	if span := time.Duration(burst-1) * restart; span >= unitSpan(t, interval) {
		t.Errorf("%d starts take %v, not within StartLimitIntervalSec=%s: the limit never trips", burst, span, interval)
	}
}
