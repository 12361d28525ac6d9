package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("5m",
// "1h30m") or a number of days ("5d").
type Duration struct{ time.Duration }

// UnmarshalText parses "5d" as well as anything time.ParseDuration takes.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n := len(s); n > 1 && s[n-1] == 'd' {
		var days float64
		if _, err := fmt.Sscanf(s[:n-1], "%g", &days); err == nil && days >= 0 {
			d.Duration = time.Duration(days * float64(24*time.Hour))
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q (use e.g. 30s, 5m, 2h, 5d)", s)
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	d.Duration = v
	return nil
}

// MarshalText renders the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
