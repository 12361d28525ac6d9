package config

import (
	"fmt"
	"strconv"
	"strings"
)

// checkExplicitZeroes refuses a zero written for a setting whose zero
// applyDefaults would take for "not set", where the zero means something
// else to an operator. Postfix's maximal_queue_lifetime = 0 is "try once,
// then bounce"; max_age = "0s" would silently become five days.
func (c *Config) checkExplicitZeroes() error {
	f := finder{file: c.Source, pos: c.pos}
	if c.Delivery.MaxAge.Duration == 0 && c.written("delivery", "max_age") {
		return f.err("delivery", -1, "max_age", `max_age = "0s": want a positive duration (leave max_age out for the default, 5d)`)
	}
	if c.Delivery.BounceMaxAge.Duration == 0 && c.written("delivery", "bounce_max_age") {
		return f.err("delivery", -1, "bounce_max_age", `bounce_max_age = "0s": want a positive duration (leave bounce_max_age out for max_age)`)
	}
	// A wait of nothing would close every proxied connection, and to
	// an operator "0s" may read as no limit.
	for i, l := range c.Listeners {
		if l.ProxyTimeout.Duration == 0 && c.written("listener", strconv.Itoa(i), "proxy_timeout") {
			return f.err("listener", i, "proxy_timeout", `proxy_timeout = "0s": want a positive duration (leave proxy_timeout out for the default, 5s)`)
		}
	}
	// The other timeouts, the same way: "0s" reads as "no timeout" (a
	// slow scanner never cut off), and became the default, a stage's 5s.
	for _, z := range []struct {
		table, key string
		zero       bool
		dflt       string
	}{
		{"dns", "timeout", c.DNS.Timeout.Duration == 0, "5s"},
		{"limits", "command_timeout", c.Limits.CommandTimeout.Duration == 0, "5m"},
		{"limits", "data_timeout", c.Limits.DataTimeout.Duration == 0, "10m"},
		{"delivery", "connect_timeout", c.Delivery.ConnectTimeout.Duration == 0, "30s"},
		{"delivery", "command_timeout", c.Delivery.CommandTimeout.Duration == 0, "5m"},
		{"delivery", "idle_timeout", c.Delivery.IdleTimeout.Duration == 0, "10s"},
	} {
		if z.zero && c.written(z.table, z.key) {
			return f.err(z.table, -1, z.key, fmt.Sprintf(`%s = "0s": want a positive duration (leave %s out for the default, %s)`, z.key, z.key, z.dflt))
		}
	}
	for i, s := range c.Stages {
		if s.Timeout.Duration == 0 && c.written("stage", strconv.Itoa(i), "timeout") {
			return f.err("stage", i, "timeout", fmt.Sprintf(`stage %q: timeout = "0s": want a positive duration (leave timeout out for the default, 5s)`, s.Name))
		}
		if s.DataTimeout.Duration == 0 && c.written("stage", strconv.Itoa(i), "data_timeout") {
			return f.err("stage", i, "data_timeout", fmt.Sprintf(`stage %q: data_timeout = "0s": want a positive duration (leave data_timeout out for the stage's timeout)`, s.Name))
		}
	}
	// retry = [] reads as "no retries" and became the default schedule.
	if len(c.Delivery.Retry) == 0 && c.written("delivery", "retry") {
		return f.err("delivery", -1, "retry", `retry = []: want at least one interval (the last one repeats; leave retry out for the default, ["5m","10m","30m","1h","2h","4h"])`)
	}
	return nil
}

// written reports whether the file sets key (a path, as "delivery",
// "max_age"), in a table or inline.
func (c *Config) written(path ...string) bool {
	_, ok := c.pos[strings.Join(path, pathSep)]
	return ok
}
