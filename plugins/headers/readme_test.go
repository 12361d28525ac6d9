package headers

import (
	"reflect"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestREADMEConfigKeys: README documents every [stage.config] key of the
// headers plugin and names none it does not take.
func TestREADMEConfigKeys(t *testing.T) {
	testlib.CheckPluginREADME(t, "headers", reflect.TypeFor[Config](), "")
}
