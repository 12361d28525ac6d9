package milter

import (
	"fmt"

	"github.com/sluice-mta/sluice/internal/sockspec"
)

// parseAddr turns a milter socket spec into a network and address for
// net.Dial: Postfix's and Sendmail's forms and Sluice's tcp:HOST:PORT
// (see internal/sockspec), always with a kind, as Postfix's smtpd_milters
// want. The config (core/config) reads them with the same parser and
// makes a relative PATH relative to the config file.
func parseAddr(spec string) (network, address string, err error) {
	s, err := sockspec.Parse(spec)
	if err != nil {
		return "", "", fmt.Errorf("milter %w", err)
	}
	return s.Network, s.Address, nil
}
