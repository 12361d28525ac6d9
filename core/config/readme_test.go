package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// fragmentListener completes a README block that shows part of a config
// (a lone [[stage]], the [limits] of a section): a config needs a
// listener, and a block with none is such a fragment.
const fragmentListener = "\n[[listener]]\nlisten = \"127.0.0.1:1\"\n"

// parseREADMEBlock parses a README toml block as Sluice would: whole if
// it has a [[listener]], else inside a minimal config. The files it names
// (certificates, plugins, auth files) are made, empty, in dir, as Parse
// checks that they exist; an absolute path is moved under dir.
func parseREADMEBlock(t *testing.T, b testlib.TOMLBlock) (*Config, error) {
	src := b.Text
	if !strings.Contains(src, "[[listener]]") {
		src += fragmentListener
	}
	dir := t.TempDir()
	for _, m := range readmeFileKey.FindAllStringSubmatch(src, -1) {
		p := m[2]
		if p == "" || (m[1] == "plugin" && !strings.Contains(p, "/")) {
			continue
		}
		target := filepath.Join(dir, p)
		if filepath.IsAbs(p) {
			src = strings.ReplaceAll(src, `"`+p+`"`, strconv.Quote(target))
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return Parse(filepath.Join(dir, "sluice.toml"), []byte(src))
}

// readmeFileKey finds the keys whose value Parse looks for on disk, a
// tls_certs pair's cert and key written inline included.
var readmeFileKey = regexp.MustCompile(`(?m)(?:^\s*|[{,]\s*)(tls_cert|tls_key|cert|key|plugin|users_file|senders_file|ca_file)\s*=\s*"([^"]*)"`)

// TestREADMEConfigBlocksParse: every config a user may copy from the
// README is one Sluice accepts.
func TestREADMEConfigBlocksParse(t *testing.T) {
	blocks := testlib.READMETOML(t)
	if len(blocks) < 5 {
		t.Fatalf("found %d toml blocks in README; the reader is broken", len(blocks))
	}
	for _, b := range blocks {
		if _, err := parseREADMEBlock(t, b); err != nil {
			t.Errorf("README.md:%d (%s): %v", b.Line, b.Section, err)
		}
	}
}

// readmeKeys returns the config keys README's toml blocks name, a
// stage's [stage.config] (the plugin's own keys) left out.
func readmeKeys(t *testing.T) map[string]bool {
	keys := map[string]bool{}
	for _, b := range testlib.READMETOML(t) {
		var doc map[string]any
		if err := toml.Unmarshal([]byte(b.Text), &doc); err != nil {
			t.Fatalf("README.md:%d: %v", b.Line, err)
		}
		for k := range testlib.TOMLKeys(doc, "stage.config", "auth.senders") {
			keys[k] = true
		}
	}
	return keys
}

// TestREADMEDocumentsEveryKey: a key the decoder accepts and no README
// example shows is one users cannot find; the other way round, the
// strict parse above already refuses a key the README invents.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	documented := readmeKeys(t)
	for _, k := range testlib.Sorted(testlib.StructKeys(reflect.TypeFor[Config](), "toml")) {
		if !documented[k] {
			t.Errorf("config key %s is in no toml block of README.md", k)
		}
	}
}

// TestREADMEProseKeysExist: "[table] key" in README's prose names a key
// the decoder knows (a renamed key leaves such mentions behind).
func TestREADMEProseKeysExist(t *testing.T) {
	known := testlib.StructKeys(reflect.TypeFor[Config](), "toml")
	re := regexp.MustCompile("`\\[\\[?([a-z_.]+)\\]\\]?\\s+([a-z_]+)")
	for _, m := range re.FindAllStringSubmatch(testlib.README(t), -1) {
		if strings.HasPrefix(m[1], "stage.config") {
			continue // a plugin's key
		}
		if k := m[1] + "." + m[2]; !known[k] {
			t.Errorf("README names %s, which config does not know", m[0])
		}
	}
}

// deliveryDefaulted are the [delivery] keys config leaves at 0 for
// core/delivery to default (newRouting in routing.go, defaultDelayWarning
// in report.go), so a config test cannot see theirs; README's 100, 5, 1m,
// 1h and 4h were read against that code.
var deliveryDefaulted = map[string]bool{
	"messages_per_connection": true, "backoff_after": true, "backoff": true,
	"backoff_max": true, "delay_warning": true,
}

// TestREADMEDefaults: the values README's [limits], [delivery] and [log]
// examples show (and [dns] timeout) are the defaults: written into a config, each changes nothing.
func TestREADMEDefaults(t *testing.T) {
	base, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, b := range testlib.READMETOML(t) {
		if b.Section != "## Configuration reference" && b.Section != "## Submission and AUTH" {
			continue // the tutorial's and the pipeline's are examples
		}
		var doc map[string]any
		if err := toml.Unmarshal([]byte(b.Text), &doc); err != nil {
			t.Fatalf("README.md:%d: %v", b.Line, err)
		}
		for _, table := range []string{"limits", "delivery", "log", "dns"} {
			tab, _ := doc[table].(map[string]any)
			for k, v := range tab {
				if table == "dns" && k != "timeout" {
					continue // servers is an example
				}
				if table == "delivery" && deliveryDefaulted[k] {
					continue
				}
				if table == "limits" && k == "sender_overrides" {
					continue // an example: there are none by default
				}
				src, err := toml.Marshal(map[string]any{table: map[string]any{k: v}})
				if err != nil {
					t.Fatal(err)
				}
				c, err := Parse("f.toml", []byte(minimal+string(src)))
				if err != nil {
					t.Errorf("README.md:%d: %s.%s = %v: %v", b.Line, table, k, v, err)
					continue
				}
				checked++
				got := reflect.ValueOf(*c).FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, table) }).Interface()
				want := reflect.ValueOf(*base).FieldByNameFunc(func(n string) bool { return strings.EqualFold(n, table) }).Interface()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("README.md:%d: %s.%s = %v is not the default:\n got %+v\nwant %+v", b.Line, table, k, v, got, want)
				}
			}
		}
	}
	if checked < 40 {
		t.Fatalf("checked %d defaults; README's blocks lost their tables?", checked)
	}
}
