package dmarc

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// ReportsConfig is [stage.config.reports]: the aggregate reports of RFC
// 7489 §7.2 that the domains evaluated ask for with rua=, one a day (UTC)
// per domain, as opendmarc's HistoryFile and opendmarc-reports send.
//
//	[stage.config.reports]
//	org_name = "Example Org"            # report_metadata org_name
//	email    = "dmarc-reports@example.org"
//	extra_contact_info = "https://example.org/dmarc"  # optional
//	submitter = "example.org"           # default: email's domain
//	max_history_bytes = 1073741824      # the history of all days, at most
type ReportsConfig struct {
	// Enabled turns reports off while the table stays (default true).
	Enabled *bool `json:"enabled"`
	// OrgName is the report generator's name (report_metadata org_name).
	OrgName string `json:"org_name"`
	// Email is the report's From and its metadata email.
	Email string `json:"email"`
	// ExtraContactInfo is optional contact information for the domain
	// owners (report_metadata extra_contact_info).
	ExtraContactInfo string `json:"extra_contact_info"`
	// Submitter is the domain that names the reporter in the Subject
	// and the file name (RFC 7489 §7.2.1.1); default: Email's domain.
	Submitter string `json:"submitter"`
	// MaxHistoryBytes bounds the history files of all days together
	// (default defaultMaxHistory); past it a day's further evaluations
	// are not recorded.
	MaxHistoryBytes int64 `json:"max_history_bytes"`

	// idKey is the state directory's key of the Report-IDs (reportIDKey).
	idKey string
}

// domainName is a host name as the Subject and the file name carry it.
var domainName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)

// configureReports checks [stage.config.reports] and, when reports are
// on, sets up their history and starts their sender. The history lives
// in the stage's state directory: without one (a core older than plugin
// state) reports are refused rather than silently not kept. A dry run
// (check-config, replay) checks the keys and records nothing, as the
// daemon's own process of the stage owns the files.
func (p *Plugin) configureReports(c sdk.Config) error {
	if p.stopReports != nil {
		p.stopReports()
		p.stopReports = nil
	}
	p.reports = nil
	rc := p.cfg.Reports
	if rc == nil || (rc.Enabled != nil && !*rc.Enabled) {
		return nil
	}
	if err := rc.check(); err != nil {
		return err
	}
	if sdk.DryRun() {
		return nil
	}
	if c.StateDir == "" {
		return errors.New("reports: this core gives the stage no state directory to keep the history in (a Sluice older than plugin state): remove [stage.config.reports] or upgrade")
	}
	if err := os.MkdirAll(c.StateDir, 0o700); err != nil {
		return fmt.Errorf("reports: state directory: %w", err)
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	mailer := c.Mailer
	if mailer == nil {
		mailer = noMailer{}
	}
	log := sdk.Logger().With("stage", c.Stage)
	key, err := reportIDKey(c.StateDir, log)
	if err != nil {
		return fmt.Errorf("reports: the report ID key: %w", err)
	}
	cfg := *rc
	cfg.idKey = key
	p.reports = &reporter{
		cfg:     cfg,
		dir:     c.StateDir,
		mailer:  mailer,
		res:     p.Resolver,
		clock:   p.Clock,
		delay:   time.Duration(p.Rand() * float64(reportSpread)),
		log:     log,
		running: make(chan struct{}),
	}
	p.reports.measure(p.Clock().UTC().Format(dayLayout))
	if !p.noLoop {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		// Stopping waits for the sender: a pass under way would go on
		// writing the state directory (its progress, a finished day's
		// removal) after the stop had returned.
		p.stopReports = func() { cancel(); <-done }
		go func() { defer close(done); p.reports.run(ctx) }()
	}
	return nil
}

// check refuses bad values, naming the key (sdk.ConfigError's house
// style), and fills in the submitter.
func (rc *ReportsConfig) check() error {
	if strings.TrimSpace(rc.OrgName) == "" || hasControl(rc.OrgName) {
		return fmt.Errorf("reports.org_name = %q: a name is required when reports are on, without control characters", rc.OrgName)
	}
	a, err := mail.ParseAddress(rc.Email)
	if err != nil || a.Name != "" || a.Address != rc.Email || !domainName.MatchString(addrDomain(rc.Email)) {
		return fmt.Errorf("reports.email = %q: want a plain address (local@domain), the reports' From", rc.Email)
	}
	if hasControl(rc.ExtraContactInfo) {
		return fmt.Errorf("reports.extra_contact_info = %q: control characters", rc.ExtraContactInfo)
	}
	if rc.Submitter == "" {
		rc.Submitter = strings.ToLower(addrDomain(rc.Email))
	}
	switch {
	case rc.MaxHistoryBytes < 0:
		return fmt.Errorf("reports.max_history_bytes = %d: want a size in bytes, 0 for the default (%d)", rc.MaxHistoryBytes, defaultMaxHistory)
	case rc.MaxHistoryBytes == 0:
		rc.MaxHistoryBytes = defaultMaxHistory
	}
	if !domainName.MatchString(rc.Submitter) {
		return fmt.Errorf("reports.submitter = %q: want a domain name (it names the reporter in the Subject and the file name)", rc.Submitter)
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// noMailer stands for a Config without a Mailer (an sdk older than it).
type noMailer struct{}

func (noMailer) Send(context.Context, sdk.OutgoingMessage) (string, error) {
	return "", sdk.ErrNoMailer
}
