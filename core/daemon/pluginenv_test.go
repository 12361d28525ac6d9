package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/delivery"
)

// Plugin processes are told [delivery] ca_file, as an absolute path
// (they run in another directory): the route stage's probes verify a
// tls=verify server against the roots delivery uses.
func TestPluginEnvCarriesDeliveryCAFile(t *testing.T) {
	dir := t.TempDir()
	c := &config.Config{Source: filepath.Join(dir, "sluice.toml"), Delivery: config.Delivery{CAFile: "ca.pem"}}
	want := delivery.EnvCAFile + "=" + filepath.Join(dir, "ca.pem")
	if env := pluginEnv(c, false); !slices.Contains(env, want) {
		t.Errorf("env %q, want %q", env, want)
	}
	c.Delivery.CAFile = ""
	for _, kv := range pluginEnv(c, false) {
		if strings.HasPrefix(kv, delivery.EnvCAFile+"=") {
			t.Errorf("no ca_file, yet env has %q", kv)
		}
	}
}

// Plugin processes are told [delivery] address_family when it is not
// any: the route stage's probes of smtp: routes dial what delivery does.
func TestPluginEnvCarriesAddressFamily(t *testing.T) {
	c := &config.Config{Source: "sluice.toml"}
	for fam, want := range map[string]string{"ipv4": "ipv4", "ipv6": "ipv6", "any": "", "": ""} {
		c.Delivery.AddressFamily = fam
		got := ""
		for _, kv := range pluginEnv(c, false) {
			if v, ok := strings.CutPrefix(kv, delivery.EnvAddressFamily+"="); ok {
				got = v
			}
		}
		if got != want {
			t.Errorf("address_family %q: env has %q, want %q", fam, got, want)
		}
	}
}

// Each variable the core sets in a plugin's environment is named in
// README's "What a plugin can rely on", where plugin authors look.
func TestPluginEnvDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(string(readme), "What a plugin can rely on:")
	if !ok {
		t.Fatal(`README has no "What a plugin can rely on:" list`)
	}
	list, _, _ = strings.Cut(list, "\n\n")
	dir := t.TempDir()
	c := &config.Config{Source: filepath.Join(dir, "sluice.toml"), Hostname: "mx.example.org",
		DNS:      config.DNS{Servers: []string{"127.0.0.1:53"}},
		Delivery: config.Delivery{CAFile: "ca.pem", OutboundFamily: config.OutboundFamily{AddressFamily: "ipv4"}}}
	for _, kv := range pluginEnv(c, true) {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.Contains(list, "`"+name) {
			t.Errorf("README's plugin environment list does not name %s", name)
		}
	}
}
