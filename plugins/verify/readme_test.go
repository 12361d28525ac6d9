package verify

import (
	"encoding/json"
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
	stages := testlib.READMEStages(t, "verify")
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
		if _, err := compile(cfg, "mx.example.org"); err != nil {
			t.Errorf("README.md:%d: %v", s.Line, err)
		}
	}
	if len(stages) == 0 {
		t.Fatal("README shows no verify stage")
	}
}
