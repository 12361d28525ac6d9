package config

import (
	"strings"
	"testing"
	"time"
)

// A value of the wrong type is reported in TOML's words, what the key
// wants and what it got, not the decoder's Go names
// ("struct field config.Delivery.Port of type int").
func TestTypeErrorsInTOMLWords(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{minimal + "[delivery]\nport = \"25\"\n", "f.toml:5: delivery.port: want an integer, not a string"},
		{minimal + "[delivery]\nport = 2.5\n", "f.toml:5: delivery.port: want an integer, not a float"},
		{minimal + "[delivery]\njitter = \"x\"\n", "f.toml:5: delivery.jitter: want a number, not a string"},
		{minimal + "[delivery]\nmta_sts = 1\n", "f.toml:5: delivery.mta_sts: want true or false, not an integer"},
		{minimal + "[delivery]\nretry = \"5m\"\n", "f.toml:5: delivery.retry: want an array of strings, not a string"},
		{"local_domains = \"example.org\"\n" + minimal, "f.toml:1: local_domains: want an array of strings, not a string"},
		{"relay_networks = \"10.0.0.0/8\"\n" + minimal, "f.toml:1: relay_networks: want an array of strings, not a string"},
		{"limits = 5\n" + minimal, "f.toml:1: limits: want a table, not an integer"},
		{minimal + "[limits]\nmessage_rate_per_ip = 5\n", "f.toml:5: limits.message_rate_per_ip: want a table, not an integer"},
		{minimal + "[[stage]]\nname = \"s\"\nplugin = \"spf\"\nconfig = 5\n", "f.toml:7: stage.config: want a table, not an integer"},
		{"listener = \"mx\"\n", "f.toml:1: listener: want an array of tables, not a string"},
		{minimal + "[limits.sender_overrides]\n\"a@example.org\" = 5\n", "f.toml:5: limits.sender_overrides.a@example.org: want a table, not an integer"},
	} {
		_, err := Parse("f.toml", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q:\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// A bad relay_networks entry is named with the reason, without the name
// of the Go function that parsed it.
func TestBadNetworkMessage(t *testing.T) {
	for _, tc := range []struct{ net, want string }{
		{"10.0.0.0/33", `f.toml:1: relay_networks: bad network "10.0.0.0/33": prefix length out of range (want an address or a CIDR such as 192.0.2.0/24)`},
		{"notanet", `f.toml:1: relay_networks: bad network "notanet": unable to parse IP (want an address or a CIDR such as 192.0.2.0/24)`},
	} {
		_, err := Parse("f.toml", []byte(`relay_networks = ["`+tc.net+`"]`+"\n"+minimal))
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.net, err, tc.want)
		}
	}
}

// max_age = "0s" is refused, not taken for the default: to a Postfix
// operator 0 means "try once", not five days. Left out, it is 5d.
func TestMaxAgeZeroRefused(t *testing.T) {
	for _, src := range []string{minimal + "[delivery]\nmax_age = \"0s\"\n", "delivery = {max_age = \"0d\"}\n" + minimal} {
		_, err := Parse("f.toml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), `max_age = "0s": want a positive duration`) || !strings.HasPrefix(err.Error(), "f.toml:") {
			t.Errorf("%q: %v", src, err)
		}
	}
	c, err := Parse("f.toml", []byte(minimal+"[delivery]\nport = 25\n"))
	if err != nil || c.Delivery.MaxAge.Duration != 5*24*time.Hour {
		t.Fatalf("max_age left out: %v %v", c, err)
	}
}
