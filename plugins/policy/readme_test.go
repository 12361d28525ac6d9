package policy

import (
	"encoding/json"
	"reflect"
	"testing"

	toml "github.com/pelletier/go-toml/v2"

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
	checked := 0
	for _, b := range testlib.READMETOML(t) {
		var doc struct {
			Stage []struct {
				Plugin string         `toml:"plugin"`
				Config map[string]any `toml:"config"`
			} `toml:"stage"`
		}
		if err := toml.Unmarshal([]byte(b.Text), &doc); err != nil {
			t.Fatalf("README.md:%d: %v", b.Line, err)
		}
		for _, s := range doc.Stage {
			if s.Plugin != "policy" {
				continue
			}
			js, err := json.Marshal(s.Config)
			if err != nil {
				t.Fatal(err)
			}
			var cfg Config
			if err := (sdk.Config{JSON: js}).Decode(&cfg); err != nil {
				t.Errorf("README.md:%d: %v", b.Line, err)
				continue
			}
			if _, err := compile(cfg); err != nil {
				t.Errorf("README.md:%d: %v", b.Line, err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("README shows no policy stage")
	}
}
