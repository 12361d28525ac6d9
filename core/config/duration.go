package config

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("5m",
// "1h30m") or a number of days ("5d", "1.5d").
type Duration struct{ time.Duration }

const day = 24 * time.Hour

// UnmarshalText parses "5d" as well as anything time.ParseDuration takes.
// The whole text must be the duration: "5xd" or "1.5hd" are errors, not 5
// and 1.5 days, and a length beyond time.Duration's range (about 292
// years) is refused rather than wrapping round to a negative value.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	if n := len(s); n > 1 && s[n-1] == 'd' {
		num := s[:n-1]
		if !decimal(num) {
			return fmt.Errorf("bad duration %q (use e.g. 30s, 5m, 2h, 5d)", s)
		}
		days, err := strconv.ParseFloat(num, 64)
		if err != nil || days*float64(day) >= math.MaxInt64 {
			return fmt.Errorf("duration %q is too long", s)
		}
		d.Duration = time.Duration(days * float64(day))
		return nil
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

// decimal reports whether s is digits with at most one decimal point: no
// sign, exponent, "inf" or "nan", which strconv.ParseFloat would take.
func decimal(s string) bool {
	digits, dot := 0, false
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// MarshalText renders the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
