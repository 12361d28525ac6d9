package route

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestREADMEConfigKeys: README documents every [stage.config] key of the
// route plugin and names none it does not take.
func TestREADMEConfigKeys(t *testing.T) {
	testlib.CheckPluginREADME(t, "route", reflect.TypeFor[Config](), "")
}

// readmeAbsFile finds the absolute files a README route example names
// (an authfile=, a secrets_file), which Configure wants to exist.
var readmeAbsFile = regexp.MustCompile(`/etc/sluice/[A-Za-z0-9._-]+`)

// TestREADMEStageConfigsConfigure: every route [stage.config] in README
// is one the stage accepts, as check-config would: core/config's README
// test parses the blocks but leaves a stage's config to its plugin, and
// an SRS domain outside local_domains or a rule an earlier one hides is
// refused only here. The files the examples name are made, with a
// secret in them, and local_domains are the block's own, else the
// configuration reference's example.org.
func TestREADMEStageConfigsConfigure(t *testing.T) {
	checked := 0
	for _, b := range testlib.READMETOML(t) {
		var doc struct {
			LocalDomains []string `toml:"local_domains"`
			Stage        []struct {
				Plugin string         `toml:"plugin"`
				Config map[string]any `toml:"config"`
			} `toml:"stage"`
		}
		if err := toml.Unmarshal([]byte(b.Text), &doc); err != nil {
			t.Fatalf("README.md:%d: %v", b.Line, err)
		}
		local := doc.LocalDomains
		if local == nil {
			local = []string{"example.org"}
		}
		for _, s := range doc.Stage {
			if s.Plugin != "route" || s.Config == nil {
				continue
			}
			js, err := json.Marshal(s.Config)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			cfg := readmeAbsFile.ReplaceAllStringFunc(string(js), func(p string) string {
				f := filepath.Join(dir, filepath.Base(p))
				if err := os.WriteFile(f, []byte("a long random string\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				return f
			})
			t.Setenv(EnvLocalDomains, strings.Join(local, ","))
			if _, err := sdktest.Start(t, &Plugin{}, cfg); err != nil {
				t.Errorf("README.md:%d (%s): the route stage refuses its config: %v", b.Line, b.Section, err)
			}
			checked++
		}
	}
	if checked < 2 {
		t.Fatalf("configured %d route stages from README; the example and the SRS block are gone?", checked)
	}
}
