package sdk

import (
	"regexp"
	"strings"
)

// ConfigError is Init's error when the plugin's Configure refused its
// config: Msg is the plugin's own words, which the core shows at the
// line of the [stage.config] key they name (see Key).
type ConfigError struct {
	Msg string
}

func (e *ConfigError) Error() string { return "init: configure: " + e.Msg }

// configKey finds the key a Configure error names: encoding/json's
// `unknown field "k"`, `json: cannot unmarshal … into Go struct field
// T.k of type …`, or the house style of first-party plugins, `k = value:
// why` or `k "value": why` (after an optional "plugin: " prefix), k
// dotted for a key of a table ("srs.domain").
var configKey = regexp.MustCompile(`unknown field "([^"]+)"|Go struct field [A-Za-z0-9_]+\.([A-Za-z0-9_.]+) of type|^(?:[A-Za-z0-9_-]+: )?([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)(?: = | "[^"]*": )`)

// Key returns the [stage.config] key the error is about, or "" when it
// names none: a dotted path for a nested one ("rules.match").
func (e *ConfigError) Key() string {
	m := configKey.FindStringSubmatch(e.Msg)
	for _, k := range m[min(1, len(m)):] {
		if k != "" {
			return strings.ToLower(k)
		}
	}
	return ""
}
