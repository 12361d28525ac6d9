package dkim

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// keyAnswer is one key lookup: an *rsa.PublicKey or an
// ed25519.PublicKey, or why there is none.
type keyAnswer struct {
	pub crypto.PublicKey
	err error
}

// arcKey fetches a key record as DKIM does (RFC 6376 §3.6.2.2: one TXT
// record at s._domainkey.d): k=rsa (the default) of 1024 to 4096 bits
// (RFC 8301 §3.2), or k=ed25519 (RFC 8463 §4.2), whose size is fixed.
func (p *Plugin) arcKey(ctx context.Context, name string) (crypto.PublicKey, error) {
	txts, err := p.Resolver.LookupTXT(ctx, name)
	switch {
	case err != nil && dnsresolve.IsNotFound(err):
		return nil, fmt.Errorf("no key at %s", name)
	case err != nil:
		return nil, fmt.Errorf("key at %s: %w: %v", name, errTempKey, err)
	case len(txts) != 1:
		return nil, fmt.Errorf("%d key records at %s: want one", len(txts), name)
	}
	tags := parseTags(txts[0])
	if v := tags.get("v"); v != "" && v != "DKIM1" {
		return nil, fmt.Errorf("key at %s: v=%s", name, v)
	}
	kind := tags.get("k")
	if kind == "" {
		kind = KeyRSA
	}
	if kind != KeyRSA && kind != KeyEd25519 {
		return nil, fmt.Errorf("key at %s: k=%s, want rsa or ed25519", name, kind)
	}
	// RFC 6376 §3.6.1: h= lists the hash algorithms the key may sign
	// with, s= the services it is for; each is a colon-separated list.
	// Both ARC algorithms hash with SHA-256.
	if h, ok := tags["h"]; ok && !hasFlag(h, "sha256") {
		return nil, fmt.Errorf("key at %s: h=%s, not sha256", name, h)
	}
	if sv, ok := tags["s"]; ok && !hasFlag(sv, "email") && !hasFlag(sv, "*") {
		return nil, fmt.Errorf("key at %s: s=%s, not for email", name, sv)
	}
	if p := tags.get("p"); p == "" {
		return nil, fmt.Errorf("key at %s: no usable p=", name)
	}
	if kind == KeyEd25519 {
		// RFC 8463 §4.2: p= is the bare 32-octet public key, no ASN.1.
		raw, err := base64.StdEncoding.DecodeString(tags.get("p"))
		if err != nil || len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key at %s: not an Ed25519 key (want %d octets)", name, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(raw), nil
	}
	pub := rsaKeyOf(tags)
	if pub == nil {
		return nil, fmt.Errorf("key at %s: not an RSA key", name)
	}
	if why := rsaSizeError(pub); why != "" {
		return nil, fmt.Errorf("key at %s: %s", name, why)
	}
	return pub, nil
}

// hasFlag reports whether the colon-separated list has f, without case.
func hasFlag(list, f string) bool {
	for _, x := range strings.Split(list, ":") {
		if strings.EqualFold(x, f) {
			return true
		}
	}
	return false
}
