package daemon

import "github.com/sluice-mta/sluice/core/config"

// softBounceWarning is said by check-config, at start and at each reload
// while soft_bounce is on: it is a safety net for a new setup, and left on
// it keeps undeliverable mail queued and refused clients retrying for
// ever, with nobody told.
const softBounceWarning = "soft_bounce is on: refusals go out as 4xx and permanent delivery failures are deferred (nothing bounces, not even past max_age); turn it off once the setup is tested"

// softBounceWarnings is softBounceWarning when c has soft_bounce on.
func softBounceWarnings(c *config.Config) []string {
	if !c.SoftBounce {
		return nil
	}
	return []string{softBounceWarning}
}
