package policy

import (
	"encoding/json"
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
	stages := testlib.READMEStages(t, "policy")
	for _, s := range stages {
		js, err := json.Marshal(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		var cfg Config
		if err := (sdk.Config{JSON: js}).Decode(&cfg); err != nil {
			t.Errorf("README.md:%d: %v", s.Line, err)
			continue
		}
		if _, err := compile(cfg); err != nil {
			t.Errorf("README.md:%d: %v", s.Line, err)
		}
	}
	if len(stages) == 0 {
		t.Fatal("README shows no policy stage")
	}
}
