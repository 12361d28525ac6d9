package dmarc

import (
	"fmt"
	"net/mail"
	"os"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// FailureReportsConfig is [stage.config.failure_reports]: the failure
// reports of RFC 7489 §7.3 (AFRF, RFC 6591) that a domain asks for with
// ruf= and fo=, one per evaluated message, as opendmarc's FailureReports
// sends them. Off by default: a report carries the failed message's
// header fields, its subject and its recipients' names, to a third party
// (RFC 7489 §9.5, §12.5).
//
//	[stage.config.failure_reports]
//	enabled = true
//	from    = "dmarc-failures@example.org"
//	max_per_domain_per_hour = 10
//	include_body = false
type FailureReportsConfig struct {
	// Enabled turns the reports on (default false).
	Enabled bool `json:"enabled"`
	// From is the reports' From field; the envelope sender is the null
	// sender, as for the aggregate reports.
	From string `json:"from"`
	// MaxPerDomainPerHour bounds the reports about one policy domain in
	// an hour (RFC 7489 §7.3 asks for rate limiting); default 10.
	MaxPerDomainPerHour *int `json:"max_per_domain_per_hour"`
	// IncludeBody sends the whole message (message/rfc822) instead of
	// its header fields (text/rfc822-headers, RFC 6591 §3.1); default
	// false. It makes the core stream every message's body to the stage.
	IncludeBody bool `json:"include_body"`
}

// failureMaxDefault is max_per_domain_per_hour when not given.
const failureMaxDefault = 10

// EnvHostname is where the core hands plugins its hostname, the
// authserv-id of the Authentication-Results it writes (plugins/spf and
// plugins/dkim read it too).
const EnvHostname = "SLUICE_HOSTNAME"

// configureFailures checks [stage.config.failure_reports] and, when the
// reports are on, sets up their sender. A dry run (check-config, replay)
// checks the keys and sends nothing.
func (p *Plugin) configureFailures(c sdk.Config) error {
	p.failures = nil
	fc := p.cfg.FailureReports
	if fc == nil || !fc.Enabled {
		return nil
	}
	a, err := mail.ParseAddress(fc.From)
	if err != nil || a.Name != "" || a.Address != fc.From || !domainName.MatchString(addrDomain(fc.From)) {
		return fmt.Errorf("failure_reports.from = %q: want a plain address (local@domain), the reports' From", fc.From)
	}
	limit := failureMaxDefault
	if fc.MaxPerDomainPerHour != nil {
		if limit = *fc.MaxPerDomainPerHour; limit < 1 {
			return fmt.Errorf("failure_reports.max_per_domain_per_hour = %d: want 1 or more (enabled = false sends none)", limit)
		}
	}
	if sdk.DryRun() {
		return nil
	}
	clock := p.Clock
	if clock == nil {
		clock = time.Now
	}
	mailer := c.Mailer
	if mailer == nil {
		mailer = noMailer{}
	}
	// The report's Authentication-Results names the host that made the
	// checks (RFC 8601 §2.5), as the core's own field does; a core that
	// hands no name leaves the From address's domain.
	authservID := os.Getenv(EnvHostname)
	if authservID == "" {
		authservID = addrDomain(fc.From)
	}
	p.failures = &failureReporter{
		cfg:        *fc,
		authservID: authservID,
		limit:      limit,
		mailer:     mailer,
		res:        p.Resolver,
		clock:      clock,
		log:        sdk.Logger().With("stage", c.Stage),
		slots:      make(chan struct{}, failureWorkers),
		windows:    map[string]*rateWindow{},
	}
	return nil
}
