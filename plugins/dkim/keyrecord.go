package dkim

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// keyDomain checks the names of a key and returns domain as the zone
// holds it: a Unicode domain as its A-labels, which d= names too.
func keyDomain(domain, selector string) (string, error) {
	a, err := dnsresolve.ALabels(domain)
	if err != nil {
		return "", fmt.Errorf("domain %q: %w", domain, err)
	}
	domain = dnsresolve.Fold(a)
	if domain == "" || selector == "" {
		return "", errors.New("a domain and a selector are required")
	}
	// Both are part of a file name and of a quoted zone-file line.
	if strings.ContainsAny(domain+selector, "/ \t\"\\") {
		return "", fmt.Errorf("bad domain %q or selector %q", domain, selector)
	}
	return domain, nil
}

// keyFile is dir/SELECTOR.DOMAIN.key, for a domain keyDomain returned.
func keyFile(domain, selector, dir string) string {
	if dir == "" {
		dir = "."
	}
	return filepath.Join(dir, selector+"."+domain+".key")
}

// KeyPath is the file Keygen writes the key of selector and domain to in
// dir.
func KeyPath(domain, selector, dir string) (string, error) {
	domain, err := keyDomain(domain, selector)
	if err != nil {
		return "", err
	}
	return keyFile(domain, selector, dir), nil
}

// KeyRecord reads the private key at path (as LoadKey) and returns the
// TXT record publishing its public half for selector and domain, as
// Keygen returned it when it wrote the key: the public key can be had
// again from the private one, so the record need not be kept aside.
func KeyRecord(domain, selector, path string) (string, error) {
	domain, err := keyDomain(domain, selector)
	if err != nil {
		return "", err
	}
	b, err := readKeyFile(path)
	if err != nil {
		return "", err
	}
	signer, err := ParseKey(b)
	if err != nil {
		return "", fmt.Errorf("%s: not a DKIM signing key: %w", path, err)
	}
	return TXTRecord(domain, selector, signer)
}
