package daemon

import (
	"os"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMain removes the plugins the tests built (testlib.Build) once they
// have run.
func TestMain(m *testing.M) {
	code := m.Run()
	testlib.RemoveBuilds()
	os.Exit(code)
}
