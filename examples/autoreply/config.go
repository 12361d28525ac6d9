package main

import (
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/sluice-mta/sluice/sdk"
)

// Config is the stage's [stage.config].
type Config struct {
	Responders []ResponderConfig `json:"responders"`
	// DetailSeparator lists the characters that start a +detail in a
	// local part, as the route plugin's key of that name ("+" when unset,
	// "" for none): alice+lists@ is alice's.
	DetailSeparator *string `json:"detail_separator"`
}

// ResponderConfig is one [[stage.config.responders]] table.
type ResponderConfig struct {
	// Address is the local recipient who is away.
	Address string `json:"address"`
	// Subject replaces "Auto: " + the original Subject.
	Subject string `json:"subject"`
	// Body or BodyFile (relative to the config file) is the reply's text.
	Body     string `json:"body"`
	BodyFile string `json:"body_file"`
	// From and Until bound when replies go out: an RFC 3339 date
	// (Until's day included) or date-time, in the daemon's time zone when
	// it has no offset; empty is unbounded.
	From  string `json:"from"`
	Until string `json:"until"`
	// Days is how long a sender who got a reply gets no other (7).
	Days *int `json:"days"`
	// Addresses are the recipient's other addresses (aliases), which
	// count as hers in To and Cc, as Sieve vacation's :addresses
	// (RFC 5230 §4.5).
	Addresses []string `json:"addresses"`
}

// responder is a checked ResponderConfig.
type responder struct {
	address     string          // normalised (addrKey): the key of the record
	written     string          // as configured, the domain normalised: From of the reply
	mine        map[string]bool // address and addresses, normalised
	subject     string          // "" means "Auto: " + the original's
	body        string
	from, until time.Time // zero: unbounded
	days        int
}

// defaultDays is Sieve vacation's default interval (RFC 5230 §4.1).
const defaultDays = 7

// defaultSeparator is the +detail separator when detail_separator is
// unset: the common one (Postfix, Dovecot, RFC 5233's examples).
const defaultSeparator = "+"

// parseConfig checks the stage config and returns the responders by
// address and the detail separator; an error names the key it is about,
// as sdk.ConfigError.Key reads it.
func parseConfig(cfg sdk.Config) (map[string]*responder, string, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return nil, "", err
	}
	if len(c.Responders) == 0 {
		return nil, "", fmt.Errorf("responders = []: list at least one [[stage.config.responders]]")
	}
	sep := defaultSeparator
	if c.DetailSeparator != nil {
		sep = *c.DetailSeparator
	}
	if strings.ContainsAny(sep, "@\"\\ \t\r\n") {
		return nil, "", fmt.Errorf("detail_separator = %q: want characters of a local part, as \"+\"", sep)
	}
	out := map[string]*responder{}
	for i, rc := range c.Responders {
		r, err := rc.check()
		if err != nil {
			return nil, "", fmt.Errorf("%w (responder %d)", err, i+1)
		}
		if out[r.address] != nil {
			return nil, "", fmt.Errorf("responders.address = %q: given twice", rc.Address)
		}
		out[r.address] = r
	}
	return out, sep, nil
}

func (rc ResponderConfig) check() (*responder, error) {
	written := strings.TrimSpace(rc.Address)
	r := &responder{address: addrKey(written), subject: rc.Subject, days: defaultDays}
	if !isMailbox(r.address) {
		return nil, fmt.Errorf("responders.address = %q: want a mailbox, local@domain", rc.Address)
	}
	at := strings.LastIndexByte(written, '@')
	r.written = written[:at] + r.address[strings.LastIndexByte(r.address, '@'):]
	r.mine = map[string]bool{r.address: true}
	for _, a := range rc.Addresses {
		k := addrKey(strings.TrimSpace(a))
		if !isMailbox(k) {
			return nil, fmt.Errorf("responders.addresses = %q: want a mailbox, local@domain", a)
		}
		r.mine[k] = true
	}
	if strings.ContainsAny(rc.Subject, "\r\n") || !utf8.ValidString(rc.Subject) {
		return nil, fmt.Errorf("responders.subject = %q: want one line of UTF-8", rc.Subject)
	}
	switch {
	case rc.Body != "" && rc.BodyFile != "":
		return nil, fmt.Errorf("responders.body_file = %q: give body or body_file, not both", rc.BodyFile)
	case rc.BodyFile != "":
		b, err := os.ReadFile(rc.BodyFile)
		if err != nil {
			return nil, fmt.Errorf("responders.body_file = %q: %v", rc.BodyFile, err)
		}
		r.body = string(b)
	default:
		r.body = rc.Body
	}
	if strings.TrimSpace(r.body) == "" || !utf8.ValidString(r.body) {
		return nil, fmt.Errorf("responders.body = %q: want some text, UTF-8", r.body)
	}
	var err error
	if r.from, err = parseWhen(rc.From, false); err != nil {
		return nil, fmt.Errorf("responders.from = %q: %v", rc.From, err)
	}
	if r.until, err = parseWhen(rc.Until, true); err != nil {
		return nil, fmt.Errorf("responders.until = %q: %v", rc.Until, err)
	}
	if !r.from.IsZero() && !r.until.IsZero() && !r.until.After(r.from) {
		return nil, fmt.Errorf("responders.until = %q: not after from %q", rc.Until, rc.From)
	}
	// RFC 5230 §4.1: the interval is at least a day; 0 would answer every
	// message of a loop that the other rules miss.
	if rc.Days != nil {
		if *rc.Days < 1 || *rc.Days > 365 {
			return nil, fmt.Errorf("responders.days = %d: want 1 to 365", *rc.Days)
		}
		r.days = *rc.Days
	}
	return r, nil
}

// parseWhen reads an RFC 3339 date or date-time, as TOML's dates reach a
// plugin (a local one without an offset). A date alone is its first
// instant, or with end its last, so that until = 2025-08-31 includes
// that day.
func parseWhen(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		if end {
			t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05", s, time.Local); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("want a date (2025-08-31) or a date-time (2025-08-31T18:00:00+02:00)")
}

// active reports whether r answers at now.
func (r *responder) active(now time.Time) bool {
	return (r.from.IsZero() || !now.Before(r.from)) && (r.until.IsZero() || !now.After(r.until))
}

// addrKey normalises an address as the route plugin's lookups do: the
// whole of it without case and the domain's internationalized labels as
// A-labels, so that Alice@bücher.example (SMTPUTF8, RFC 6531) and
// alice@xn--bcher-kva.example are one. RFC 5321 §2.4 lets a server treat
// local parts with case, but mailbox servers do not, and Sieve compares
// addresses with i;ascii-casemap by default (RFC 5228 §2.7.3).
func addrKey(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return strings.ToLower(a)
	}
	labels := strings.Split(a[i+1:], ".")
	for j, l := range labels {
		if al, err := idna.Lookup.ToASCII(l); err == nil {
			labels[j] = al
		}
	}
	return strings.ToLower(a[:i] + "@" + strings.Join(labels, "."))
}

// baseOf removes the +detail (RFC 5233's subaddress) from a normalised
// address: "alice+lists@x" is "alice@x". ok is false when it has none.
func baseOf(key, sep string) (base string, ok bool) {
	at := strings.LastIndexByte(key, '@')
	if sep == "" || at < 0 {
		return key, false
	}
	i := strings.IndexAny(key[:at], sep)
	if i <= 0 {
		return key, false
	}
	return key[:i] + key[at:], true
}

// owns reports whether addr is one of r's (RFC 5230 §4.5): its address
// or one of its addresses, with or without a +detail.
func (r *responder) owns(addr, sep string) bool {
	k := addrKey(addr)
	if r.mine[k] {
		return true
	}
	base, ok := baseOf(k, sep)
	return ok && r.mine[base]
}

// fromAddr is the reply's From address: as configured, for a responder a
// test builds by hand its key.
func (r *responder) fromAddr() string {
	if r.written != "" {
		return r.written
	}
	return r.address
}

// isMailbox is a loose check of local@domain, enough to catch a typo.
func isMailbox(a string) bool {
	i := strings.LastIndexByte(a, '@')
	return i > 0 && i < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>,;")
}
