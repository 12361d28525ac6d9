package config

import (
	"strings"
	"testing"
	"time"
)

// bounce_max_age (Postfix's bounce_queue_lifetime) defaults to max_age,
// and a written zero is refused as max_age's is, not read as the default.
func TestBounceMaxAge(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal+"[delivery]\nmax_age = \"2d\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.BounceMaxAge.Duration != 48*time.Hour {
		t.Errorf("default bounce_max_age %v, want max_age", c.Delivery.BounceMaxAge)
	}
	c, err = Parse("f.toml", []byte(minimal+"[delivery]\nbounce_max_age = \"1d\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.BounceMaxAge.Duration != 24*time.Hour || c.Delivery.MaxAge.Duration != 5*24*time.Hour {
		t.Errorf("bounce_max_age %v, max_age %v", c.Delivery.BounceMaxAge, c.Delivery.MaxAge)
	}
	_, err = Parse("f.toml", []byte(minimal+"[delivery]\nbounce_max_age = \"0s\"\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "f.toml:5: ") || !strings.Contains(err.Error(), "bounce_max_age") {
		t.Errorf("bounce_max_age = \"0s\": %v", err)
	}
}
