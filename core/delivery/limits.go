package delivery

import (
	"strings"

	"github.com/emersion/go-smtp"
)

// RFC 9422: a server's EHLO (LHLO) may advertise LIMITS with the most
// recipients it takes in one transaction (RCPTMAX) and the most
// transactions in one session (MAILMAX). Delivery keeps within both,
// rather than have recipients refused with 452 and sent again
// (tooManyRecipients) or a MAIL answered 421: a transaction carries at
// most the smaller of RCPTMAX and the destination's recipient limit
// (rcptlimit.go), and a session ends after MAILMAX transactions or
// messages_per_connection, whichever comes first. The limits are read
// from the EHLO the session carries mail under, the one after STARTTLS
// where there is one. RCPTDOMAINMAX is not used: only relayed mail puts
// several domains in one transaction, and a server refusing a domain too
// many with 452 X.5.3 gets it in the next transaction at once.

// serverLimits is what c's last EHLO advertised as RCPTMAX and MAILMAX,
// 0 for none.
func serverLimits(c *smtp.Client) (rcptMax, mailMax int) {
	ok, param := c.Extension("LIMITS")
	if !ok {
		return 0, 0
	}
	return parseLimits(param)
}

// parseLimits reads RCPTMAX and MAILMAX from a LIMITS parameter
// ("RCPTMAX=100 MAILMAX=1000"; RFC 9422 §2: names are EHLO keywords,
// whose case does not matter), 0 for one left out or whose value is not
// a positive number. Unknown limits are skipped.
func parseLimits(param string) (rcptMax, mailMax int) {
	for f := range strings.FieldsSeq(param) {
		name, value, _ := strings.Cut(f, "=")
		switch {
		case strings.EqualFold(name, "RCPTMAX"):
			rcptMax = limitValue(value)
		case strings.EqualFold(name, "MAILMAX"):
			mailMax = limitValue(value)
		}
	}
	return rcptMax, mailMax
}

// limitValue is v as a positive decimal number of at most 9 digits, 0
// when it is not one (a larger limit is no limit in practice).
func limitValue(v string) int {
	if v == "" || len(v) > 9 {
		return 0
	}
	n := 0
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return 0
		}
		n = n*10 + int(v[i]-'0')
	}
	return n
}

// rcptLimit is limit, the recipients a transaction of the destination
// carries (0 for no limit), lowered to s's RCPTMAX.
func (s *session) rcptLimit(limit int) int {
	if s.rcptMax > 0 && (limit == 0 || s.rcptMax < limit) {
		return s.rcptMax
	}
	return limit
}

// spent reports whether s has carried as many transactions as it may:
// perConnection (messages_per_connection) or the server's MAILMAX.
func (s *session) spent(perConnection int) bool {
	return s.used >= perConnection || s.mailMax > 0 && s.used >= s.mailMax
}
