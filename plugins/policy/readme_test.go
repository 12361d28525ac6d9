package policy

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
)

// TestREADMEConfigKeys: README documents every [stage.config] key of the
// policy plugin and names none it does not take.
func TestREADMEConfigKeys(t *testing.T) {
	testlib.CheckPluginREADME(t, "policy", reflect.TypeFor[Config](), "")
}

// TestREADMEStageConfigsConfigure: every policy stage README shows is one
// the plugin takes (core/config leaves a stage's config to its plugin).
func TestREADMEStageConfigsConfigure(t *testing.T) {
	testlib.CheckREADMEStagesConfigure(t, "policy", func(js []byte) error {
		var cfg Config
		if err := (sdk.Config{JSON: js}).Decode(&cfg); err != nil {
			return err
		}
		_, err := compile(cfg)
		return err
	})
}
