//go:build interop

package interop

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestDMARCReportSchema: libxml2's xmllint validates the aggregate report
// the dmarc plugin writes against RFC 7489 Appendix C's schema. The
// report is the plugin's golden file, which its unit test
// (TestReportAggregate) keeps equal to what the plugin generates: two
// records, an IPv6 client, a DKIM signature that failed, an override
// reason and names that need escaping.
func TestDMARCReportSchema(t *testing.T) {
	xmllint := need(t, "xmllint")
	dir := filepath.Join("..", "..", "plugins", "dmarc", "testdata")
	out, err := exec.Command(xmllint, "--noout", "--schema", filepath.Join(dir, "rua.xsd"), filepath.Join(dir, "report.golden.xml")).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint: %v\n%s", err, out)
	}
}
