package config

import "fmt"

// RatePacing paces delivery per destination, as Postfix's
// default_destination_rate_delay: a receiving domain (or a relay) that
// throttles a sender gets at most one delivery started per delay, one
// at a time. A route rule's transport sets its own with rate_delay=.
type RatePacing struct {
	// RateDelay is the time between the starts of two deliveries to one
	// destination; 0 (the default) does not pace.
	RateDelay Duration `toml:"rate_delay"`
}

// validateRateDelay checks [delivery] rate_delay: a pause cannot be
// negative.
func (c *Config) validateRateDelay(f finder) error {
	if d := c.Delivery.RatePacing.RateDelay.Duration; d < 0 {
		return f.err("delivery", -1, "rate_delay", fmt.Sprintf("rate_delay must not be negative, not %s", d))
	}
	return nil
}
