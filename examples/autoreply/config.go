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
}

// responder is a checked ResponderConfig.
type responder struct {
	address     string // normalised (addrKey)
	subject     string // "" means "Auto: " + the original's
	body        string
	from, until time.Time // zero: unbounded
	days        int
}

// defaultDays is Sieve vacation's default interval (RFC 5230 §4.1).
const defaultDays = 7

// parseConfig checks the stage config; an error names the key it is
// about, as sdk.ConfigError.Key reads it.
func parseConfig(cfg sdk.Config) (map[string]*responder, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if len(c.Responders) == 0 {
		return nil, fmt.Errorf("responders = []: list at least one [[stage.config.responders]]")
	}
	out := map[string]*responder{}
	for i, rc := range c.Responders {
		r, err := rc.check()
		if err != nil {
			return nil, fmt.Errorf("%w (responder %d)", err, i+1)
		}
		if out[r.address] != nil {
			return nil, fmt.Errorf("responders.address = %q: given twice", rc.Address)
		}
		out[r.address] = r
	}
	return out, nil
}

func (rc ResponderConfig) check() (*responder, error) {
	r := &responder{address: addrKey(strings.TrimSpace(rc.Address)), subject: rc.Subject, days: defaultDays}
	if !isMailbox(r.address) {
		return nil, fmt.Errorf("responders.address = %q: want a mailbox, local@domain", rc.Address)
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

// addrKey normalises an address as the core compares recipients: the
// local part exactly, the domain without case (RFC 5321 §2.4) and with
// its internationalized labels as A-labels, so that alice@bücher.example
// (SMTPUTF8, RFC 6531) and alice@xn--bcher-kva.example are one.
func addrKey(a string) string {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a
	}
	labels := strings.Split(a[i+1:], ".")
	for j, l := range labels {
		if al, err := idna.Lookup.ToASCII(l); err == nil {
			labels[j] = al
		}
	}
	return a[:i] + "@" + strings.ToLower(strings.Join(labels, "."))
}

// isMailbox is a loose check of local@domain, enough to catch a typo.
func isMailbox(a string) bool {
	i := strings.LastIndexByte(a, '@')
	return i > 0 && i < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>,;")
}
