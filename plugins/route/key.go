package route

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
)

// Rules compare domains as dnsresolve.Fold has them (lowercased, without
// a trailing dot, A-labels), so that a rule written "bücher.example"
// matches a recipient an SMTPUTF8 client wrote in U-labels as well as one
// an ASCII client wrote "xn--bcher-kva.example", and the other way round.

// addrKey is an address as the rules, recipients lists and aliases
// compare it: lowercased, its domain folded. "@domain" (an
// alias catch-all) keeps its form.
func addrKey(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return strings.ToLower(addr)
	}
	return strings.ToLower(addr[:at]) + "@" + dnsresolve.Fold(addr[at+1:])
}

// addrMap checks and keys one of the address-keyed settings (sender_bcc,
// recipient_bcc, sender_canonical) named name: each key and value
// trimmed and checked, the keys by addrKey, two spellings of one address
// refused (which value won would change from start to start). It returns
// the written keys too, sorted: of two bad entries the same one is named
// each time.
func addrMap(name string, m map[string]string, checkKey, checkValue func(string) error) (map[string]string, []string, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]string, len(m))
	for _, written := range keys {
		k := strings.TrimSpace(written)
		if err := checkKey(k); err != nil {
			return nil, nil, fmt.Errorf("route: %s %q: %v", name, written, err)
		}
		k = addrKey(k)
		if _, dup := out[k]; dup {
			return nil, nil, fmt.Errorf("route: %s %q: the same address as another key; keep one", name, written)
		}
		v := strings.TrimSpace(m[written])
		if err := checkValue(v); err != nil {
			return nil, nil, fmt.Errorf("route: %s %q: %q: %v", name, written, m[written], err)
		}
		out[k] = v
	}
	return out, keys, nil
}
