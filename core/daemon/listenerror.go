package daemon

import (
	"errors"
	"fmt"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/smtpd"
)

// listenError reports a listener that could not be bound (its address in
// use, not this host's) at its listen line in c, "file:line: listener
// NAME: listen tcp …", as every other error of the config is reported;
// any other error is returned as it is.
func listenError(c *config.Config, err error) error {
	var be *smtpd.BindError
	if !errors.As(err, &be) {
		return err
	}
	for i, l := range c.Listeners {
		if l.Name == be.Listener {
			return c.KeyError("listener", i, "listen", fmt.Errorf("listener %s: %w", be.Listener, be.Err))
		}
	}
	return err
}
