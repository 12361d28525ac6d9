// Package spf is Sluice's first-party SPF plugin and the evaluator under
// it: check_host() of RFC 7208 with every mechanism and modifier, macros,
// the DNS lookup limits and exp= explanations, all DNS asked through a
// Resolver (in production the core's dnsresolve.Resolver).
//
//	[[stage]]
//	name   = "spf"
//	plugin = "spf"
//	[stage.config]
//	fail      = "reject"    # reject | tempfail | quarantine | tag | continue
//	softfail  = "tag"
//	temperror = "tempfail"
//	permerror = "continue"
package spf

import "fmt"

// Result is an SPF result (RFC 7208 §2.6).
type Result string

// The results, spelled as in RFC 7208 §2.6 and Authentication-Results
// (RFC 8601 §2.7.2).
const (
	None      Result = "none"
	Neutral   Result = "neutral"
	Pass      Result = "pass"
	Fail      Result = "fail"
	Softfail  Result = "softfail"
	TempError Result = "temperror"
	PermError Result = "permerror"
)

// Results lists every result, for config validation and docs.
var Results = []Result{None, Neutral, Pass, Fail, Softfail, TempError, PermError}

// abort carries an evaluation that must stop with a temperror or
// permerror (RFC 7208 §2.6.6, §2.6.7), with the reason for the log.
type abort struct {
	result Result
	reason string
}

func (a *abort) Error() string { return string(a.result) + ": " + a.reason }

func permErr(format string, args ...any) *abort {
	return &abort{PermError, fmt.Sprintf(format, args...)}
}

func tempErr(format string, args ...any) *abort {
	return &abort{TempError, fmt.Sprintf(format, args...)}
}
