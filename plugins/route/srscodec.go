package route

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// The Sender Rewriting Scheme as Shevek's reference implementation has it
// (Mail::SRS's Guarded scheme, which libsrs2 and postsrsd copy), so that
// an address one of them made is reversed here and the other way round
// with the same secret:
//
//	SRS0=HHHH=TT=orig.example=alice@srs.example.org
//	SRS1=HHHH=fwd1.example==HHHH=TT=orig.example=alice@srs.example.org
//
// HHHH is the first four characters of the base64 HMAC-SHA1, keyed with
// the first secret, of the fields after it run together, each lowercased
// (ASCII); TT is the day the address was made, days since the epoch
// modulo 1024 in two base32 characters. A sender that is already an SRS0
// address of another forwarder becomes SRS1 (the first forwarder's domain
// and local part after "SRS0", kept whole and signed again), so that a
// bounce goes back through that forwarder; an SRS1 sender keeps its first
// forwarder and is signed again. On the way back the tag is taken in any
// case and with any of the separators "=", "+", "-"; a hash matches
// without regard to case (a relay may lowercase a local part: the
// reference accepts it, libsrs2 always so) under any of the secrets, the
// first of which signs, so that a secret can be replaced without
// refusing the bounces of mail sent under the old one.

// srsHashLen is the hash's length, the reference's default (HashLength,
// hashlength), and the shortest accepted (HashMin, hashmin).
const srsHashLen = 4

// srsBase32 are the characters of the day stamp (RFC 4648 §6's alphabet).
const srsBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// srsSlots is the number of days two base32 characters count before they
// start again.
const srsSlots = 32 * 32

// The ways an SRS address fails to reverse, each its own reply text.
var (
	errSRSForm    = errors.New("not an SRS address of the form SRS0=HASH=TT=domain=user")
	errSRSHash    = errors.New("its hash does not match (forged, or made under a secret no longer kept)")
	errSRSExpired = errors.New("its time stamp is too old (or not a day stamp)")
)

// srsCodec makes and reverses SRS addresses at one domain.
type srsCodec struct {
	domain  string           // of the addresses made
	secrets func() []string  // first signs, all verify; never empty
	maxAge  int              // days a stamp is good for
	now     func() time.Time // tests set the day
}

// srsTag reports whether local starts with tag (SRS0 or SRS1, any case)
// and a separator.
func srsTag(local, tag string) bool {
	return len(local) > len(tag) && strings.EqualFold(local[:len(tag)], tag) && strings.IndexByte("=+-", local[len(tag)]) >= 0
}

// isSRS reports whether local is an SRS0 or SRS1 local part.
func isSRS(local string) bool { return srsTag(local, "SRS0") || srsTag(local, "SRS1") }

// mac returns the base64 HMAC-SHA1 of fields under secret, each lowercased
// as the reference does, for any length of it.
func mac(secret string, fields ...string) string {
	h := hmac.New(sha1.New, []byte(secret))
	for _, f := range fields {
		h.Write([]byte(asciiLower(f)))
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// asciiLower lowercases ASCII letters only, as libsrs2's tolower in the C
// locale and Perl's lc on bytes do: a UTF-8 local part hashes the same
// everywhere.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// sign is the hash of fields under the first secret.
func (c *srsCodec) sign(fields ...string) string {
	return mac(c.secrets()[0], fields...)[:srsHashLen]
}

// verify reports whether hash is the hash of fields under one of the
// secrets. As libsrs2 does, a longer hash is compared on its first
// srsHashLen characters, and without regard to case.
func (c *srsCodec) verify(hash string, fields ...string) bool {
	if len(hash) < srsHashLen {
		return false
	}
	for _, s := range c.secrets() {
		want := mac(s, fields...)[:srsHashLen]
		if hmac.Equal([]byte(asciiLower(hash[:srsHashLen])), []byte(asciiLower(want))) {
			return true
		}
	}
	return false
}

// stamp is the day stamp of t.
func stamp(t time.Time) string {
	d := t.Unix() / 86400
	return string([]byte{srsBase32[(d>>5)&31], srsBase32[d&31]})
}

// fresh reports whether stamp names a day at most maxAge days ago, as the
// reference counts it: a stamp later than today is one from 1024 days
// before.
func (c *srsCodec) fresh(s string) bool {
	if len(s) != 2 {
		return false
	}
	then := 0
	for i := 0; i < 2; i++ {
		ch := s[i]
		if 'a' <= ch && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		v := strings.IndexByte(srsBase32, ch)
		if v < 0 {
			return false
		}
		then = then<<5 | v
	}
	now := int(c.now().Unix()/86400) % srsSlots
	for now < then {
		now += srsSlots
	}
	return now <= then+c.maxAge
}

// forward returns the SRS address of sender (user@host), for mail this
// host forwards.
func (c *srsCodec) forward(sender string) string {
	at := strings.LastIndexByte(sender, '@')
	user, host := sender[:at], sender[at+1:]
	// A Unicode domain goes into the local part as its A-labels: mail from
	// alice@bücher.example may go, its domain downgraded, to a server
	// without SMTPUTF8 (RFC 6531 §3.2), but not with a UTF-8 local part,
	// and its bounce comes back to the same address either way.
	if a, err := dnsresolve.ALabels(host); err == nil {
		host = a
	}
	switch {
	case srsTag(user, "SRS1"):
		// SRS1x HASH=FIRSTHOST=REST: signed again, the first forwarder
		// kept. One without those fields is taken as any sender (the
		// reference would fail: libsrs2 leaves the sender as it is).
		f := strings.SplitN(user[5:], "=", 3)
		if len(f) == 3 && f[1] != "" && f[2] != "" {
			return "SRS1=" + c.sign(f[1], f[2]) + "=" + f[1] + "=" + f[2] + "@" + c.domain
		}
	case srsTag(user, "SRS0"):
		// The local part after "SRS0", separator and all, signed with
		// the forwarder's domain.
		rest := user[4:]
		return "SRS1=" + c.sign(host, rest) + "=" + host + "=" + rest + "@" + c.domain
	}
	ts := stamp(c.now())
	return "SRS0=" + c.sign(ts, host, user) + "=" + ts + "=" + host + "=" + user + "@" + c.domain
}

// reverse returns the address an SRS local part stands for: the sender of
// an SRS0 address made here, or for an SRS1 address the SRS0 address of
// the first forwarder. The hash is checked before the time stamp, as
// Mail::SRS does: a forgery is told it is one.
func (c *srsCodec) reverse(local string) (string, error) {
	switch {
	case srsTag(local, "SRS1"):
		f := strings.SplitN(local[5:], "=", 3)
		if len(f) < 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			return "", errSRSForm
		}
		if !c.verify(f[0], f[1], f[2]) {
			return "", errSRSHash
		}
		return "SRS0" + f[2] + "@" + f[1], nil
	case srsTag(local, "SRS0"):
		f := strings.SplitN(local[5:], "=", 4)
		if len(f) < 4 || f[0] == "" || f[1] == "" || f[2] == "" || f[3] == "" {
			return "", errSRSForm
		}
		if !c.verify(f[0], f[1], f[2], f[3]) {
			return "", errSRSHash
		}
		if !c.fresh(f[1]) {
			return "", errSRSExpired
		}
		return f[3] + "@" + f[2], nil
	}
	return "", errSRSForm
}
