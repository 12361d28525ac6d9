package config

import (
	"strings"
	"testing"
	"time"
)

func TestDurationSyntax(t *testing.T) {
	good := map[string]time.Duration{
		"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "5d": 5 * day, "1.5d": 36 * time.Hour,
		"0.5d": 12 * time.Hour, "0s": 0, "100000d": 100000 * day,
	}
	for s, want := range good {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil || d.Duration != want {
			t.Errorf("%q: %v, %v; want %v", s, d.Duration, err, want)
		}
	}
	// Each was once read as a number of days: the junk before "d" was
	// dropped, or the product wrapped round to a negative duration that
	// slipped past the negative check (max_age then never expired).
	bad := map[string]string{
		"5xd": "bad duration", "1.5hd": "bad duration", "d": "bad duration", "-1d": "bad duration",
		"1e3d": "bad duration", "infd": "bad duration", "nand": "bad duration", "+5d": "bad duration",
		"5 d": "bad duration", ".d": "bad duration", "1.2.3d": "bad duration",
		"1000000d": "too long", "106752d": "too long", "99999999999999999999d": "too long",
		"-5m": "negative duration", "soon": "bad duration",
	}
	for s, want := range bad {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v (%v), want an error containing %q", s, err, d.Duration, want)
		}
	}
}

func TestDurationErrorsInConfig(t *testing.T) {
	for _, tc := range []struct{ val, want string }{
		{`"5xd"`, `f.toml:5: delivery.max_age: bad duration "5xd"`},
		{`"1000000d"`, `f.toml:5: delivery.max_age: duration "1000000d" is too long`},
	} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\nmax_age = "+tc.val+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("max_age = %s: got %v, want prefix %q", tc.val, err, tc.want)
		}
	}
}
