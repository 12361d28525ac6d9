//go:build interop

package interop

import (
	"os"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestMain removes the binaries the tests built (testlib.Build) and stops
// the shared Exim (exim_instance_test.go), OpenSMTPD
// (opensmtpd_instance_test.go), rspamd (rspamd_test.go) and spamd
// (spamd_test.go) once they have run.
func TestMain(m *testing.M) {
	code := m.Run()
	stopExim()
	stopOpenSMTPD()
	stopRspamd()
	stopSpamd()
	testlib.RemoveBuilds()
	os.Exit(code)
}
