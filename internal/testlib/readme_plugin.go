package testlib

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// READMEStage is a [[stage]] of README's toml blocks: the block's first
// line in README.md, and the stage's [stage.config] (nil without one).
type READMEStage struct {
	Line   int
	Config map[string]any
}

// READMEStages returns the stages in README's toml blocks whose plugin
// is name, in README's order.
func READMEStages(t testing.TB, name string) []READMEStage {
	t.Helper()
	var out []READMEStage
	for _, b := range READMETOML(t) {
		var doc struct {
			Stage []struct {
				Plugin string         `toml:"plugin"`
				Config map[string]any `toml:"config"`
			} `toml:"stage"`
		}
		if err := toml.Unmarshal([]byte(b.Text), &doc); err != nil {
			t.Fatalf("README.md:%d: %v", b.Line, err)
		}
		for _, s := range doc.Stage {
			if s.Plugin == name {
				out = append(out, READMEStage{Line: b.Line, Config: s.Config})
			}
		}
	}
	return out
}

// CheckREADMEStagesConfigure fails t unless README shows a stage of
// plugin name, and configure takes the [stage.config] of each, as JSON
// (core/config leaves a stage's config to its plugin).
func CheckREADMEStagesConfigure(t *testing.T, name string, configure func(js []byte) error) {
	t.Helper()
	stages := READMEStages(t, name)
	for _, s := range stages {
		js, err := json.Marshal(s.Config)
		if err != nil {
			t.Fatal(err)
		}
		if err := configure(js); err != nil {
			t.Errorf("README.md:%d: %v", s.Line, err)
		}
	}
	if len(stages) == 0 {
		t.Fatalf("README shows no %s stage", name)
	}
}

// READMEStageConfigKeys returns the dotted [stage.config] keys of every
// stage in README's toml blocks whose plugin is name ("rules.match").
func READMEStageConfigKeys(t testing.TB, name string) map[string]bool {
	t.Helper()
	keys := map[string]bool{}
	for _, s := range READMEStages(t, name) {
		for k := range TOMLKeys(s.Config) {
			keys[k] = true
		}
	}
	return keys
}

// READMEPluginRow returns the row of README's "Stage settings" table for
// the plugin name, "" when it has none.
func READMEPluginRow(t testing.TB, name string) string {
	t.Helper()
	lines := strings.Split(READMESection(t, "## The pipeline"), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "| `"+name+"` |") {
			// A row after a paragraph is no row: Markdown shows it as text.
			if !strings.HasPrefix(lines[i-1], "|") {
				t.Errorf("README's Stage settings row for %s stands outside the table", name)
			}
			return l
		}
	}
	return ""
}

// READMEOtherKeys returns README's "Other keys:" paragraph, where keys
// the stage settings table leaves out are described.
func READMEOtherKeys(t testing.TB) string {
	t.Helper()
	_, p, ok := strings.Cut(READMESection(t, "## The pipeline"), "\nOther keys: ")
	if !ok {
		t.Fatal(`README's pipeline section has no "Other keys:" paragraph`)
	}
	p, _, _ = strings.Cut(p, "\n\n")
	return p
}

// rowKey finds the keys a table row lists: a `key` that starts an item
// (after the cell's start, a comma, a semicolon or a slash).
var rowKey = regexp.MustCompile("(?:\\| |, |; |/)`([a-z_]+)`")

// CheckPluginREADME fails t where README and the plugin's config type
// disagree: every key cfg decodes (by its json tags) is shown in a README
// [stage.config] of that plugin, or named in its Stage settings row, the
// "Other keys:" paragraph or more (text README points to, such as a
// package doc); every key README shows or the row lists exists.
func CheckPluginREADME(t *testing.T, name string, cfg reflect.Type, more string) {
	t.Helper()
	fields := StructFields(cfg, "json")
	shown := READMEStageConfigKeys(t, name)
	row := READMEPluginRow(t, name)
	prose := row + "\n" + READMEOtherKeys(t) + "\n" + more
	if len(shown) == 0 && row == "" {
		t.Fatalf("README documents no [stage.config] of plugin %s", name)
	}
	for _, k := range Sorted(StructKeys(cfg, "json")) {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !shown[k] && !regexp.MustCompile(`\b`+regexp.QuoteMeta(leaf)+`\b`).MatchString(prose) {
			t.Errorf("plugin %s: config key %s is not in README", name, k)
		}
	}
	leaves := map[string]bool{}
	for k := range fields {
		leaves[k[strings.LastIndex(k, ".")+1:]] = true
	}
	for _, k := range Sorted(shown) {
		if !known(fields, k) {
			t.Errorf("plugin %s: README shows [stage.config] key %s, which the plugin does not take", name, k)
		}
	}
	for _, m := range rowKey.FindAllStringSubmatch(row, -1) {
		if m[1] != name && !leaves[m[1]] {
			t.Errorf("plugin %s: README's Stage settings row lists %s, which the plugin does not take", name, m[1])
		}
	}
}

// known reports whether k is a key of fields or lies under one that is
// a map (whose keys are the user's, as route's aliases).
func known(fields map[string]reflect.Type, k string) bool {
	if _, ok := fields[k]; ok {
		return true
	}
	for p := k; strings.Contains(p, "."); {
		p = p[:strings.LastIndex(p, ".")]
		if t, ok := fields[p]; ok {
			return t.Kind() == reflect.Map
		}
	}
	return false
}
