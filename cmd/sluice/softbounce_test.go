package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/pipeline"
)

// check-config warns while soft_bounce is on, and only then.
func TestCheckConfigWarnsSoftBounce(t *testing.T) {
	dir := t.TempDir()
	const cfg = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n" +
		"[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"
	for _, on := range []bool{true, false} {
		src := cfg
		if on {
			src = "soft_bounce = true\n" + cfg
		}
		path := filepath.Join(dir, "sluice.toml")
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		var o, e bytes.Buffer
		if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 0 {
			t.Fatalf("exit %d; stdout %q stderr %q", code, o.String(), e.String())
		}
		if got := strings.Contains(o.String(), "warning: soft_bounce is on: "); got != on {
			t.Errorf("soft_bounce = %v: stdout %q", on, o.String())
		}
	}
}

// sluice trace says which deferrals soft_bounce turned from failures.
func TestPrintSoftBounced(t *testing.T) {
	var b strings.Builder
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	printDeliveries(&b, []pipeline.DeliveryEvent{{Time: at, Attempt: 1, Destination: "dest.test", Recipients: []string{"no@dest.test"},
		Result: "deferred", Reply: "550 5.1.1 no such user", SoftBounce: []string{"no@dest.test"}}})
	if out := b.String(); !strings.Contains(out, "soft_bounce, attempt 1: no@dest.test deferred instead of failed\n") {
		t.Fatalf("trace:\n%s", out)
	}
}
