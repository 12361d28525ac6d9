package clamd

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestREADMEConfigKeys: README documents every [stage.config] key of the
// clamd plugin and names none it does not take.
func TestREADMEConfigKeys(t *testing.T) {
	testlib.CheckPluginREADME(t, "clamd", reflect.TypeFor[Config](), "")
}
