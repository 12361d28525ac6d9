package daemon

import (
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
