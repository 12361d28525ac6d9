package route

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Bounce Address Tag Validation, the "prvs" scheme of
// draft-levine-smtp-batv-01 §4.1, as Exim's ${prvs{addr}{secret}{keynum}}
// makes it and ${prvscheck{addr}{secret}} checks it, so that a tag one of
// them made the other takes with the same secret:
//
//	prvs=KDDDSSSSSS=alice@example.org
//
// K is the key number, one digit (Exim's keynum, 0 by default); DDD the
// day the tag expires, days since the epoch modulo 1000 in three digits;
// SSSSSS the first three octets, in lowercase hex, of the HMAC-SHA1 keyed
// with the secret of K, DDD and the address run together, the address as
// written. Sluice signs with K = 0 and the first secret; it checks a tag
// with the K it carries under each of the secrets, so that a secret can
// be replaced as an SRS secret is (and a tag Exim made under another key
// number is taken). Unlike Exim, it takes the hash in either case (a
// relay may uppercase a local part) and the domain lowercased, which
// the tag's address may have had when signed: Sluice signs it so.

// batvCycle is the number of days DDD counts before it starts again.
const batvCycle = 1000

// The ways a tagged address fails, each its own reply text.
var (
	errBATVForm    = errors.New("not a tag of the form prvs=KDDDSSSSSS=user@domain")
	errBATVHash    = errors.New("its hash does not match (forged, or made under a secret no longer kept)")
	errBATVExpired = errors.New("it has expired")
)

// batvCodec signs and checks tagged addresses.
type batvCodec struct {
	secrets func() []string  // first signs, all verify; never empty
	maxAge  int              // days a tag is good for
	now     func() time.Time // tests set the day
}

// batvTagged reports whether local starts with the tag type "prvs=" (any
// case, as Exim's check takes it).
func batvTagged(local string) bool {
	return len(local) > 5 && strings.EqualFold(local[:5], "prvs=")
}

// batvMAC is the six hex digits of the HMAC-SHA1 of key number k, expiry
// day ddd and addr under secret.
func batvMAC(secret, k, ddd, addr string) string {
	h := hmac.New(sha1.New, []byte(secret))
	h.Write([]byte(k + ddd + addr))
	return hex.EncodeToString(h.Sum(nil)[:3])
}

// day is today's day number modulo batvCycle.
func (c *batvCodec) day() int { return int(c.now().Unix()/86400) % batvCycle }

// sign returns addr (user@domain, the domain lowercased) tagged, the tag
// good for maxAge days after today.
func (c *batvCodec) sign(addr string) string {
	ddd := fmt.Sprintf("%03d", (c.day()+c.maxAge)%batvCycle)
	return "prvs=0" + ddd + batvMAC(c.secrets()[0], "0", ddd, addr) + "=" + addr
}

// check returns the address a tagged address stands for. The hash is
// checked before the expiry day, as Exim does: a forgery is told it is
// one. A tag is good from the day it is made to the day it names, which
// is at most maxAge days ahead: lowering max_age_days shortens the tags
// already out too.
func (c *batvCodec) check(tagged string) (string, error) {
	at := strings.LastIndexByte(tagged, '@')
	if at < 0 || !batvTagged(tagged[:at]) {
		return "", errBATVForm
	}
	f := strings.SplitN(tagged[5:], "=", 2)
	if len(f) != 2 || len(f[0]) != 10 || !digits(f[0][:4]) || !isHex(f[0][4:]) || f[1] == "" || strings.LastIndexByte(f[1], '@') <= 0 {
		return "", errBATVForm
	}
	k, ddd, hash, orig := f[0][:1], f[0][1:4], f[0][4:], f[1]
	lower := orig[:strings.LastIndexByte(orig, '@')] + asciiLower(orig[strings.LastIndexByte(orig, '@'):])
	ok := false
	for _, s := range c.secrets() {
		for _, a := range []string{orig, lower} {
			if hmac.Equal([]byte(asciiLower(hash)), []byte(batvMAC(s, k, ddd, a))) {
				ok = true
			}
		}
	}
	if !ok {
		return "", errBATVHash
	}
	expiry := int(ddd[0]-'0')*100 + int(ddd[1]-'0')*10 + int(ddd[2]-'0')
	if (expiry-c.day()+batvCycle)%batvCycle > c.maxAge {
		return "", errBATVExpired
	}
	return orig, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
