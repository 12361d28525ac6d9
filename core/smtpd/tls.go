package smtpd

import (
	"crypto/tls"
	"fmt"

	"github.com/sluice-mta/sluice/core/config"
)

// loadTLS reads a listener's certificate and key (paths relative to the
// config file).
func loadTLS(c *config.Config, l config.Listener) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Resolve(l.TLSCert), c.Resolve(l.TLSKey))
	if err != nil {
		return nil, fmt.Errorf("smtpd: listener %s: %w", l.Name, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12, // RFC 8996, RFC 8314 §4.1
	}, nil
}
