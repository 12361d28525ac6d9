package filter

import (
	"regexp"
	"strings"
)

// Senders that change from one message (or one retry) to the next while
// coming from the same source would make a new triplet each time, never
// pass, and fill the state: a mailing list's VERP return path
// ("list-bounces-4711-bob=example.org@"), a BATV-signed one
// ("prvs=1234abcdef=alice@", whose tag changes daily), an SRS-rewritten
// one from a forwarder ("SRS0=HHH=TT=origin.example=alice@", whose hash
// and day stamp change daily). greySender maps each to a stable form for
// the triplet, as postgrey does (it strips the +extension and replaces
// the numbers of a local part with "#").
var (
	// BATV, draft-levine-smtp-batv-01 §4.1: "prvs=" tag "=" local part;
	// Microsoft writes "msprvs1=", older signers "btv1=".
	batvPrefix = regexp.MustCompile(`^(?:prvs|msprvs[0-9]*|btv1)=[^=@]*=`)
	// SRS (Shevek's Sender Rewriting Scheme): SRS0=HHH=TT=domain=user,
	// and SRS1=HHH=forwarder==HHH=TT=domain=user; the separator after
	// SRS0/SRS1 may be "=", "+" or "-".
	srs0 = regexp.MustCompile(`^srs0[=+-][^=]*=[^=]*=`)
	srs1 = regexp.MustCompile(`^srs1[=+-][^=]*=([^=]*)==[^=]*=[^=]*=`)
	// A number standing alone in the local part (postgrey's \b\d+\b).
	verpNumber = regexp.MustCompile(`\b[0-9]+\b`)
)

// greySender is the sender part of a triplet: the address lowercased,
// with BATV tags, SRS hashes and day stamps, the +extension and the
// numbers of the local part taken out. The null sender stays "".
func greySender(addr string) string {
	addr = strings.ToLower(addr)
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at:]
	local = batvPrefix.ReplaceAllString(local, "")
	switch {
	case srs0.MatchString(local):
		local = srs0.ReplaceAllString(local, "srs0=")
	case srs1.MatchString(local):
		local = srs1.ReplaceAllString(local, "srs1=$1==")
	}
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	return verpNumber.ReplaceAllString(local, "#") + domain
}
