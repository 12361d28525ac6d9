package main

import "strings"

// The filter's match takes a regular expression (RE2: no look-around),
// so Postfix's reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname,
// reject_non_fqdn_sender and reject_non_fqdn_recipient are written as the
// ways a name fails Postfix's checks, each an alternative that says so on
// its own (smtpd_check.c's reject_invalid_hostname, reject_invalid_hostaddr,
// reject_non_fqdn_hostname and reject_non_fqdn_address over util's
// valid_hostname, valid_hostaddr and global's valid_mailhost_addr).
// Postfix first drops one trailing dot ("a.example." but not "a.."),
// which the alternatives allow for.

// pfBigOctet is a dotted-quad number over 255, leading zeros allowed, as
// valid_ipv4_hostaddr reads one.
const pfBigOctet = `0*(?:[1-9][0-9]{3,}|[3-9][0-9]{2}|2[6-9][0-9]|25[6-9])`

// pfHeloLiteralInvalid matches a HELO address literal ("[" first) that
// valid_mailhost_addr refuses: not "[...]" with something inside, the
// inside neither a dotted quad nor "IPv6:" and an address as
// valid_ipv6_hostaddr reads one (hex groups of 1-4 digits, 2 to 7
// colons, one "::" at most, a dotted quad at the end after 2 to 6).
var pfHeloLiteralInvalid = pfAlternatives(
	`^\[.?$`, `^\[.*[^\]]$`, // "[", "[]", no closing bracket
	// Neither a dotted quad nor IPv6: after the bracket.
	`^\[(?:[^0-9iI]|[iI][^pP]|[iI][pP][^vV]|[iI][pP][vV][^6]|[iI][pP][vV]6[^:])`,
	// A dotted quad: digits and dots, four groups, each 0-255, the
	// first 0 only in 0.0.0.0 (valid_ipv4_hostaddr).
	`^\[[0-9][0-9.]*[^0-9.].`, `^\[[0-9][^.]*(?:\.[^.]*){0,2}\]$`,
	`^\[0+\.[0.]*[^0.\]]`,
	// Either: a dot first or last, two together, four or more, a
	// number over 255.
	`^\[.*\.\.`, `^\[.*\.\]$`, `^\[(?:[^.]*\.){4}`, `^\[`+pfBigOctet+`\.`, `^\[.*\.`+pfBigOctet+`[.\]]`,
	// IPv6: what follows "IPv6:".
	pfIPv6Invalid(`^\[[iI][pP][vV]6:`, `\]$`),
)

// pfIPv6Invalid returns the alternatives that match when the IPv6
// address between prefix (a regular expression ending where the address
// begins) and end (one matching where it ends) is one
// valid_ipv6_hostaddr refuses.
func pfIPv6Invalid(prefix, end string) string {
	p := prefix
	return pfAlternatives(
		p+`[0-9A-Fa-f:.]*[^0-9A-Fa-f:.].`,  // not hex, colon or dot
		p+`[^.]*[0-9A-Fa-f]{5}`,            // five hex digits in a row
		p+`[^:]*(?::[^:]*)?`+end,           // fewer than two colons
		p+`.*\..*:`,                        // a colon in the dotted quad
		p+`(?:[^:]*:){8}`,                  // more than seven colons
		p+`(?:[^:.]*:){7}[^:.]*\.`,         // seven before a dotted quad
		p+`:[^:]`, p+`.*:::`, p+`.*::.*::`, // one colon first; ":::", two "::"
		p+`.*[^:]:`+end, // one colon last
		// The dotted quad after the last colon.
		p+`[^.]*:[^:.]*[A-Fa-f][^:.]*\.`, p+`.*\..*[A-Fa-f]`, p+`.*:\.`,
		p+`[^.]*\.[^.]*(?:\.[^.]*)?`+end,
		p+`.*:`+pfBigOctet+`\.`, p+`.*:0+\.[0.]*[^0.\]]`,
	)
}

// pfHeloNameNotFQDN matches a HELO name ("[" not first) that
// reject_non_fqdn_helo_hostname refuses: valid_hostname fails (a
// character other than letters, digits, "-", "_" and ".", an empty
// label, a label that starts or ends with "-", one over 63 characters,
// digits and dots only) or there is no dot. A name with non-ASCII
// letters counts as not qualified: Postfix takes its A-label form only
// from a client that asked for SMTPUTF8, which EHLO comes before.
var pfHeloNameNotFQDN = pfAlternatives(
	`^(?:[^\[A-Za-z0-9_.-]|[^\[].*[^A-Za-z0-9_.-])`,
	`^\.`, `^[^\[].*\.\.`, `^(?:[^\[].*\.)?-`, `^(?:[^\[].*)?-(?:\.|$)`,
	`^(?:[^\[.][^.]{63}|[^\[].*[^.]{64})`,
	`^[0-9.]+$`,
	`^[^\[.][^.]*\.?$`, // no dot, but for a last one
)

// pfHeloNameInvalid matches a HELO name ("[" not first) that
// reject_invalid_helo_hostname refuses: neither a valid_hostname nor an
// address (valid_hostaddr: a dotted quad, or IPv6 as in a literal, with
// no brackets). With a colon only the IPv6 reading can pass; without,
// digits and dots only the dotted quad, any other name only the host
// name. One difference: a label of 64 digits or more counts as invalid
// even where it is a dotted quad's number written with that many
// leading zeros, which Postfix takes.
var pfHeloNameInvalid = pfAlternatives(
	// A host name's faults in a name without a colon, or in any (an
	// empty label, "-" at either end of one, 64 characters).
	`^[^\[:A-Za-z0-9_.-][^:]*$`, `^[^\[:][^:]*[^:A-Za-z0-9_.-][^:]*$`,
	`^\.`, `^[^\[].*\.\.`, `^(?:[^\[].*\.)?-`, `^(?:[^\[].*)?-(?:\.|$)`,
	`^(?:[^\[.][^.]{63}|[^\[].*[^.]{64})`,
	// Digits and dots that are no dotted quad.
	`^[0-9]+(?:\.[0-9]+){0,2}\.?$`, `^[0-9]+(?:\.[0-9]+){4}`,
	`^(?:[0-9.]*\.)?`+pfBigOctet+`(?:\.[0-9.]*)?$`, `^0+\.[0.]*[1-9][0-9.]*$`,
	// With a colon: an IPv6 address valid_ipv6_hostaddr refuses.
	`^(?:[^\[].*)?:.*[^0-9A-Fa-f:.]`, `^(?:[^\[0-9A-Fa-f:.]|[^\[].*[^0-9A-Fa-f:.]).*:`,
	`^(?:[^\[.][^.]*)?:[^.]*[0-9A-Fa-f]{5}`, `^(?:[^\[.][^.]*)?[0-9A-Fa-f]{5}.*:`,
	`^(?:[^\[:][^:]*)?:[^:]*$`, `^(?:[^\[].*)?\..*:`,
	`^(?:[^\[:][^:]*)?:(?:[^:]*:){7}`, `^(?:[^\[:.][^:.]*)?:(?:[^:.]*:){6}[^:.]*\.[^.]`,
	`^:[^:]`, `^(?:[^\[].*)?:::`, `^(?:[^\[].*)?::.*::`, `^(?:[^\[:]|[^\[].*[^:]):\.?$`,
	`^(?:[^\[.][^.]*)?:[^:.]*[A-Fa-f][^:.]*\.[^.]`, `^(?:[^\[].*)?:.*\..*[A-Fa-f]`,
	`^(?:[^\[].*)?:\.[^.]`,
	`^(?:[^\[.][^.]*)?:[^.]*\.[^.]+(?:\.[^.]+)?\.?$`, `^(?:[^\[.][^.]*)?:[^.]*(?:\.[^.]+){4}`,
	`^(?:[^\[].*)?:`+pfBigOctet+`\.[^.]`, `^(?:[^\[].*)?:.*\.`+pfBigOctet+`(?:\.|$)`,
	`^(?:[^\[].*)?:0+\.[0.]*[1-9]`,
)

// pfAddressNotFQDN matches a sender or recipient that
// reject_non_fqdn_sender or reject_non_fqdn_recipient refuses, of those
// Sluice takes at all (one "@", a domain of letters, digits and "-"
// labels or an address literal, RFC 5321 §4.1.2): a domain with no dot,
// or of digits and dots only, which valid_hostname refuses. An address
// literal passes, as in Postfix; the null sender is not asked about.
const pfAddressNotFQDN = `@(?:[^.\[]+|[0-9.]+)$`

// pfAlternatives joins regular expressions into one that matches where
// any of them does.
func pfAlternatives(res ...string) string {
	return strings.Join(res, "|")
}
