//go:build interop

package interop

import (
	"os"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMain removes the binaries the tests built (testlib.Build) and stops
// the shared Exim (exim_instance_test.go), OpenSMTPD
// (opensmtpd_instance_test.go) and rspamd (rspamd_test.go) once they have
// run.
func TestMain(m *testing.M) {
	code := m.Run()
	stopExim()
	stopOpenSMTPD()
	stopRspamd()
	testlib.RemoveBuilds()
	os.Exit(code)
}
