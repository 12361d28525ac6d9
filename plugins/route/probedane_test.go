package route

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// A probe looks up no TLSA records, so it cannot keep the recipient's
// address from a server DANE would not let delivery talk to: probe on a
// tls=dane or dane-only transport stops Sluice at start, while the
// transport alone, or probe under tls=verify, is accepted.
func TestProbeRefusedOnDANETransport(t *testing.T) {
	for _, tls := range []string{"dane", "dane-only"} {
		cfg := `{"rules": [{"match": "x.test", "transport": "smtp:[relay.x.test]:25?tls=` + tls + `", "probe": true}]}`
		if _, err := sdktest.Start(t, &Plugin{}, cfg); err == nil || !strings.Contains(err.Error(), "probe cannot check DANE") {
			t.Errorf("tls=%s with probe: %v, want refused", tls, err)
		}
		if _, err := sdktest.Start(t, &Plugin{}, strings.Replace(cfg, `"probe": true`, `"probe": false`, 1)); err != nil {
			t.Errorf("tls=%s without probe: %v", tls, err)
		}
	}
	if _, err := sdktest.Start(t, &Plugin{}, `{"rules": [{"match": "x.test", "transport": "smtp:[relay.x.test]:25?tls=verify", "probe": true}]}`); err != nil {
		t.Errorf("tls=verify with probe: %v", err)
	}
}
