package config

import (
	"strings"
	"testing"
	"time"
)

// [delivery] rate_delay decodes (a field of an embedded struct), is off
// by default, and a negative one is refused at its line.
func TestRateDelay(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.RateDelay.Duration != 0 {
		t.Errorf("default %v, want 0 (off)", c.Delivery.RateDelay)
	}
	c, err = Parse("f.toml", []byte(minimal+"[delivery]\nrate_delay = \"1m\"\n"))
	if err != nil || c.Delivery.RateDelay.Duration != time.Minute {
		t.Fatalf("rate_delay = \"1m\": %v, %v", c, err)
	}
	for _, src := range []string{`rate_delay = "-1s"`, `rate_delay = "soon"`} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\n"+src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), "f.toml:5: ") {
			t.Errorf("%s: got %v, want an error at line 5", src, err)
		}
	}
}
