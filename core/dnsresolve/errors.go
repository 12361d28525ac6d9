package dnsresolve

import (
	"errors"
	"fmt"
)

// ErrNullMX is returned (wrapped) by LookupMX when the domain publishes a
// null MX (RFC 7505): it declares that it accepts no mail at all.
var ErrNullMX = errors.New("domain accepts no mail (null MX, RFC 7505)")

// Error is a failed lookup. NotFound means the name does not exist
// (NXDOMAIN, RFC 1035 §4.1.1 RCODE 3), a definite answer; anything else
// (SERVFAIL, REFUSED, timeouts) is temporary and worth retrying later.
type Error struct {
	Name     string // the name asked about
	Type     string // the record type asked for: "MX", "A", "AAAA"
	NotFound bool   // NXDOMAIN
	Err      error  // the last server's failure when not NotFound
}

func (e *Error) Error() string {
	if e.NotFound {
		return fmt.Sprintf("dns: %s %s: no such domain", e.Name, e.Type)
	}
	return fmt.Sprintf("dns: %s %s: %v", e.Name, e.Type, e.Err)
}

// Unwrap returns the underlying failure.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether asking again later may give another answer.
func (e *Error) Temporary() bool { return !e.NotFound }

// IsNotFound reports whether err says the name does not exist (NXDOMAIN).
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.NotFound
}

// IsTemporary reports whether err is a lookup failure worth retrying:
// SERVFAIL, REFUSED, a timeout or an unreachable server.
func IsTemporary(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Temporary()
}
