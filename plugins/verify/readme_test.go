package verify

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestREADMEConfigKeys: README documents every [stage.config] key of the
// verify plugin and names none it does not take.
func TestREADMEConfigKeys(t *testing.T) {
	testlib.CheckPluginREADME(t, "verify", reflect.TypeFor[Config](), "")
}

// TestREADMEStageConfigsConfigure: every verify stage README shows is one
// the plugin takes (core/config leaves a stage's config to its plugin).
func TestREADMEStageConfigsConfigure(t *testing.T) {
	testlib.CheckREADMEStagesConfigure(t, "verify", func(js []byte) error {
		var cfg Config
		if err := (sdk.Config{JSON: js}).Decode(&cfg); err != nil {
			return err
		}
		_, err := compile(cfg, "mx.example.org")
		return err
	})
}
