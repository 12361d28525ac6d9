package daemon

import (
	"fmt"
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// bounceTemplates reads [delivery] bounce_template, the notices in
// Postfix's bounce(5) format (nil without one). A file that cannot be
// read or used is an error at the key's line that names the file's own
// line, so that start, check-config and a reload refuse it alike.
func bounceTemplates(c *config.Config) (*bounce.Templates, error) {
	f := c.Delivery.BounceTemplate
	if f == "" {
		return nil, nil
	}
	t, err := bounce.LoadTemplates(c.Resolve(f))
	if err != nil {
		return nil, c.KeyError("delivery", -1, "bounce_template", fmt.Errorf("bounce_template: %w", err))
	}
	return t, nil
}

// bounceTemplateFile is what [delivery] bounce_template holds now (nil
// without one, or when it cannot be read: making the agent reports
// that). A reload compares it with what the agent read, as ca_file: a
// file edited under the same name is a change.
func bounceTemplateFile(c *config.Config) []byte {
	if c.Delivery.BounceTemplate == "" {
		return nil
	}
	b, _ := bounce.ReadTemplateFile(c.Resolve(c.Delivery.BounceTemplate))
	return b
}

// SampleReport is the report of kind a the daemon would send with c, on
// a sample message (delivery.SampleReport), c's bounce_template read
// and checked as at start: sluice bounce-template prints it.
func SampleReport(c *config.Config, a bounce.Action, now time.Time) ([]byte, error) {
	o, err := deliveryOptions(c)
	if err != nil {
		return nil, err
	}
	return delivery.SampleReport(o, a, now)
}
