package config

import (
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
	return nil
}

// written reports whether the file sets key (a path, as "delivery",
// "max_age"), in a table or inline.
func (c *Config) written(path ...string) bool {
	_, ok := c.pos[strings.Join(path, pathSep)]
	return ok
}
