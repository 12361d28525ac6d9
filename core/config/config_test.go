package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = "hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n"

func TestDefaultMatchesSpec(t *testing.T) {
	c := Default()
	if c.Listeners[0].Listen != "127.0.0.1:2525" || c.Admin.Listen != "127.0.0.1:8025" || c.DataDir != "./data" {
		t.Fatalf("default %+v", c)
	}
	if got := c.Delivery.Retry[len(c.Delivery.Retry)-1].Duration; got != 4*time.Hour {
		t.Fatalf("retry tail %v", got)
	}
	if c.Delivery.MaxAge.Duration != 5*24*time.Hour {
		t.Fatalf("max_age %v", c.Delivery.MaxAge)
	}
}

func TestErrorsCarryFileAndLine(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"unknown top key", "hostnme = \"x\"\n" + minimal, "f.toml:1: unknown key hostnme"},
		{"unknown listener key", minimal + "bogus = 1\n", "f.toml:4: unknown key listener.bogus"},
		{"bad kind", minimal + "kind = \"pop3\"\n", "f.toml:4: kind must be smtp, submission or submissions"},
		{"bad network", "relay_networks = [\"10.0.0.x/8\"]\n" + minimal, "f.toml:1: relay_networks:"},
		{"bad duration", minimal + "[delivery]\nmax_age = \"soon\"\n", "f.toml:5: delivery.max_age: "},
		{"bad listen", minimal + "[[listener]]\nname = \"b\"\nlisten = \"nohostport\"\n", "f.toml:6: bad listen address"},
		{"wrong type", minimal + "[delivery]\nport = \"25\"\n", "f.toml:5: delivery.port"},
		{"stage without plugin", minimal + "[[stage]]\nname = \"x\"\n", "f.toml:5: stage \"x\" needs exactly one of plugin or milter"},
		{"bad on_error", minimal + "[[stage]]\nname = \"x\"\nplugin = \"spf\"\non_error = \"panic\"\n", "f.toml:7: on_error must be"},
		{"bad milter", minimal + "[[stage]]\nname = \"x\"\nmilter = \"8891\"\n", "f.toml:6: milter \"8891\""},
		{"short lines", minimal + "[limits]\nmax_line_length = 80\n", "f.toml:5: max_line_length must be at least 1000"},
		{"syntax", "[[listener]\n", "f.toml:1: "},
		{"no listener", "hostname = \"x\"\n", "f.toml:1: at least one [[listener]]"},
		{"tls without key", minimal + "tls_cert = \"c.pem\"\n", "f.toml:4: tls_cert and tls_key go together"},
		{"double bounce not an address", minimal + "[delivery]\ndouble_bounce_to = \"postmaster\"\n", "f.toml:5: double_bounce_to \"postmaster\" is not an address"},
		{"missing ca_file", minimal + "[delivery]\nca_file = \"/nonexistent/ca.pem\"\n", "f.toml:5: ca_file \"/nonexistent/ca.pem\": no such file or directory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}

func TestFullExample(t *testing.T) {
	src := `
hostname       = "mx.example.org"
data_dir       = "/var/lib/sluice"
local_domains  = ["example.org"]
relay_networks = ["127.0.0.0/8", "::1"]

[dns]
servers = ["127.0.0.1:5353"]

[admin]
listen = "127.0.0.1:8025"

[[listener]]
name = "mx"
listen = "0.0.0.0:25"
kind = "smtp"

[[stage]]
name     = "spf"
plugin   = "spf"
timeout  = "5s"
on_error = "continue"
[stage.config]
fail = "reject"

[[stage]]
name   = "opendkim"
milter = "tcp:127.0.0.1:8891"

[delivery]
relay   = ""
port    = 2526
retry   = ["1m","2m"]
max_age = "2d"
`
	c, err := Parse("full.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Stages) != 2 || c.Stages[0].Name != "spf" || c.Stages[1].Milter != "tcp:127.0.0.1:8891" {
		t.Fatalf("stages %+v", c.Stages)
	}
	if c.Stages[0].Config["fail"] != "reject" || c.Stages[1].OnError != OnErrorTempfail || c.Stages[1].Timeout.Duration != 5*time.Second {
		t.Fatalf("stage details %+v", c.Stages)
	}
	if c.Delivery.MaxAge.Duration != 48*time.Hour || c.Delivery.Port != 2526 || len(c.Delivery.Retry) != 2 {
		t.Fatalf("delivery %+v", c.Delivery)
	}
	if !c.IsLocalDomain("EXAMPLE.org.") || c.IsLocalDomain("example.net") {
		t.Fatal("IsLocalDomain")
	}
	if !c.RelayNetworks[0].Contains(mustAddr("127.9.9.9")) || c.RelayNetworks[1].Bits() != 128 {
		t.Fatalf("networks %v", c.RelayNetworks)
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"c.pem", "k.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "sluice.toml")
	if err := os.WriteFile(p, []byte(minimal+"tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Resolve(c.Listeners[0].TLSCert); got != filepath.Join(dir, "c.pem") {
		t.Fatalf("resolve %q", got)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Fatalf("missing file: %v", err)
	}
}
