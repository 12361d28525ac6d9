package failover

import (
	"fmt"
	"strings"
)

// Keys names a stage's two ways of configuring its servers: one, a
// single endpoint ("socket"), and many, a list of them ("sockets").
type Keys struct {
	One, Many string
}

// Parse reads a stage's one endpoint or list of endpoints, as the clamd
// and spamd stages take them: list when it is set (not together with
// one, and not empty), else one, else def. parse reads an endpoint's
// spec; two specs naming the same endpoint are refused, as the second
// would only repeat the first's failed connect. server starts the errors
// ("clamd"), which name the key first, as sdk.ConfigError.Key reads it.
func Parse(server string, k Keys, one string, list []string, def string,
	parse func(spec string) (network, addr string, err error)) ([]Endpoint, error) {
	specs, key := list, k.Many
	switch {
	case list != nil && one != "":
		return nil, fmt.Errorf("%s: %s = %s: %s is set too; write one of them", server, k.Many, quoteList(list), k.One)
	case list != nil && len(list) == 0:
		return nil, fmt.Errorf("%s: %s = []: want at least one %s", server, k.Many, k.One)
	case list == nil:
		specs, key = []string{one}, k.One
		if one == "" {
			specs[0] = def
		}
	}
	eps := make([]Endpoint, 0, len(specs))
	for _, spec := range specs {
		network, addr, err := parse(spec)
		if err != nil {
			return nil, fmt.Errorf("%s: %s %q: %v", server, key, spec, err)
		}
		for _, prev := range eps {
			if prev.Network == network && prev.Address == addr {
				return nil, fmt.Errorf("%s: %s %q: listed twice, the same %s as %q", server, key, spec, server, prev.Spec)
			}
		}
		eps = append(eps, Endpoint{Spec: spec, Network: network, Address: addr})
	}
	return eps, nil
}

// quoteList writes specs as a TOML array, for an error.
func quoteList(specs []string) string {
	q := make([]string, len(specs))
	for i, s := range specs {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
