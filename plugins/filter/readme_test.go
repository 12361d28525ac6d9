package filter

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestREADMEExample starts the plugin on the config the README shows, the
// way the core hands it over (the [stage.config] table as JSON), and
// checks that it does what the README says.
func TestREADMEExample(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "## Filtering and greylisting")
	if !ok {
		t.Fatal("README has no filtering section")
	}
	_, block, ok := strings.Cut(section, "```toml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("no toml example in the filtering section")
	}
	var doc struct {
		Stage []struct {
			Plugin string         `toml:"plugin"`
			Config map[string]any `toml:"config"`
		} `toml:"stage"`
	}
	if err := toml.Unmarshal([]byte(block), &doc); err != nil {
		t.Fatalf("README example: %v", err)
	}
	if len(doc.Stage) != 1 || doc.Stage[0].Plugin != "filter" {
		t.Fatalf("README example: want one filter stage, got %+v", doc.Stage)
	}
	cfg := doc.Stage[0].Config
	cfg["greylist"].(map[string]any)["state_dir"] = t.TempDir()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}

	_, r := loopbackLists(t)
	clk := newClock()
	p := &Plugin{Resolver: r, now: clk.Now}
	h := sdktest.New(t, p, string(js))
	t.Cleanup(func() { _ = p.grey.close() })

	// The executables rule: a TOML literal string keeps its backslash.
	raw := multipartMsg("b", textPart, "Content-Type: application/octet-stream; name=\"a.EXE\"\r\n\r\nMZ")
	v := h.Data(sdktest.NewTxn("a@example.net", "b@example.org"), []byte(raw))
	wantAction(t, "executable", v, sdk.ActionReject)
	wantReply(t, v, 550, "5.7.1", "Executable attachments are not accepted")
	wantAction(t, "a file named exe-notes.txt", h.Data(sdktest.NewTxn("a@example.net", "b@example.org"),
		[]byte(multipartMsg("b", textPart, "Content-Type: text/plain; name=\"exe-notes.txt\"\r\n\r\nx"))), sdk.ActionContinue)
	// Greylisting: loopback is in skip_networks, 192.0.2.1 is not.
	wantAction(t, "loopback", h.Rcpt(sdktest.NewTxn("a@example.net"), "b@example.org"), sdk.ActionContinue)
	wantGreylisted(t, "remote", h.Rcpt(txnFrom("192.0.2.1", "a@example.net"), "b@example.org"))
}

// TestREADMEConfigKeys: every [stage.config] key is in README's example or
// in the package doc README points to ("full reference"), and README's
// example names none the plugin does not take.
func TestREADMEConfigKeys(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	testlib.CheckPluginREADME(t, "filter", reflect.TypeFor[Config](), string(doc))
}
