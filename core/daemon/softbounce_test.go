package daemon

import (
	"net/textproto"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// A reload that turns soft_bounce on applies it at once: the listener's
// 5xx goes out as 4xx, and delivery gets a new agent holding it.
func TestReloadAppliesSoftBounce(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	dataDir := filepath.Join(t.TempDir(), "data")
	src := reloadBase(dataDir, mxListener+relayTo(sink))
	d, path := startFile(t, src)
	mailCode := func() int {
		t.Helper()
		c, err := textproto.Dial("tcp", d.SMTPAddrs()["mx"].String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.ReadResponse(220); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Cmd("EHLO client.test"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.ReadResponse(250); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Cmd("MAIL FROM:a"); err != nil {
			t.Fatal(err)
		}
		code, _, _ := c.ReadResponse(0)
		return code
	}
	if code := mailCode(); code != 501 {
		t.Fatalf("MAIL FROM:a without soft_bounce: %d, want 501", code)
	}
	before := d.agents.current()
	if err := os.WriteFile(path, []byte("soft_bounce = true\n"+src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.ReloadFile(); err != nil {
		t.Fatal(err)
	}
	if code := mailCode(); code != 401 {
		t.Fatalf("MAIL FROM:a under soft_bounce: %d, want 401", code)
	}
	if d.agents.current() == before {
		t.Error("soft_bounce changed and the delivery agent was kept")
	}
}
