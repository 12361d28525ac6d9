package sdk

import "testing"

// A first-party plugin names a key of a table of its [stage.config]
// dotted ("srs.domain"), so that check-config shows the error at that
// key's line rather than at [stage.config].
func TestConfigErrorKeyDotted(t *testing.T) {
	for msg, want := range map[string]string{
		`route: srs.domain "example.net": not one of local_domains`: "srs.domain",
		`route: srs.max_age_days = 2000: want 1 to 1023`:            "srs.max_age_days",
		`spf: fail = "maybe": want`:                                 "fail",
		`route: rule 2 ("x"): no transport`:                         "",
		`route: srs. "x": nothing`:                                  "",
	} {
		if got := (&ConfigError{Msg: msg}).Key(); got != want {
			t.Errorf("Key of %q = %q, want %q", msg, got, want)
		}
	}
}
