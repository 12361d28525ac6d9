package config

import (
	"regexp"
	"strings"
)

// typeMismatch matches the decoder's message for a value of the wrong
// type, which names Go's types ("cannot decode TOML string into struct
// field config.Delivery.Port of type int"): the words of the program, not
// of the file the operator wrote.
var typeMismatch = regexp.MustCompile(`^cannot decode TOML (.+?) into (?:struct field \S+ of type )?(.+)$`)

// tables are the config types written as TOML tables.
var tables = map[string]bool{
	"config.Config": true, "config.DNS": true, "config.Admin": true, "config.Limits": true,
	"config.Rate": true, "config.Auth": true, "config.Listener": true, "config.Stage": true,
	"config.Delivery": true, "config.Log": true, "config.MXLimits": true,
	"config.CertPair": true, "config.SenderRates": true,
}

// typeMessage rewrites a type mismatch message as what the key wants and
// what it got, in TOML's words ("want an integer, not a string"); any
// other message is returned as it is.
func typeMessage(msg string) string {
	m := typeMismatch.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	return "want " + wantedType(m[2]) + ", not " + article(m[1])
}

// wantedType describes the Go type t (as reflect prints it) as a TOML value.
func wantedType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		elem := wantedType(t[2:])
		if i := strings.IndexByte(elem, ' '); i >= 0 {
			elem = elem[i+1:] // "a string" → "string"
		}
		return "an array of " + elem + "s"
	case strings.HasPrefix(t, "map["), tables[t]:
		return "a table"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	default:
		// string, and the types read from a string: durations,
		// networks, kinds, on_error.
		return "a string"
	}
}

// article puts "a" or "an" before a TOML kind ("integer", "local date").
func article(kind string) string {
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}
