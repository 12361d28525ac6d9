// Package plugins lists Sluice's first-party plugins. Each runs out of
// process like any third-party plugin: the core starts
// `sluice plugin serve NAME`, which serves the plugin registered here.
package plugins

import (
	"sort"

	"github.com/sluice-mta/sluice/plugins/clamd"
	"github.com/sluice-mta/sluice/plugins/dkim"
	"github.com/sluice-mta/sluice/plugins/dmarc"
	"github.com/sluice-mta/sluice/plugins/filter"
	"github.com/sluice-mta/sluice/plugins/headers"
	"github.com/sluice-mta/sluice/plugins/policy"
	"github.com/sluice-mta/sluice/plugins/route"
	"github.com/sluice-mta/sluice/plugins/spamd"
	"github.com/sluice-mta/sluice/plugins/spf"
	"github.com/sluice-mta/sluice/plugins/verify"
	"github.com/sluice-mta/sluice/sdk"
)

// registry maps a first-party plugin's name to its constructor.
var registry = map[string]func() sdk.Plugin{
	"clamd":   func() sdk.Plugin { return &clamd.Plugin{} },
	"dkim":    func() sdk.Plugin { return &dkim.Plugin{} },
	"dmarc":   func() sdk.Plugin { return &dmarc.Plugin{} },
	"filter":  func() sdk.Plugin { return &filter.Plugin{} },
	"headers": func() sdk.Plugin { return &headers.Plugin{} },
	"policy":  func() sdk.Plugin { return &policy.Plugin{} },
	"route":   func() sdk.Plugin { return &route.Plugin{} },
	"spamd":   func() sdk.Plugin { return &spamd.Plugin{} },
	"spf":     func() sdk.Plugin { return &spf.Plugin{} },
	"verify":  func() sdk.Plugin { return &verify.Plugin{} },
}

// Lookup returns a new instance of the named first-party plugin.
func Lookup(name string) (sdk.Plugin, bool) {
	f, ok := registry[name]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Names lists the first-party plugins, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
