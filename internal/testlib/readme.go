package testlib

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// README returns the text of the repository's README.md, found from this
// file's place in the tree so that any package's test can read it.
func README(t testing.TB) string {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// READMESection returns README's text from the heading (a whole line, such
// as "## Command line") to the next heading of the same or a higher level.
func READMESection(t testing.TB, heading string) string {
	t.Helper()
	text := README(t)
	_, rest, ok := strings.Cut(text, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	level := strings.Repeat("#", strings.Index(heading, " "))
	fenced := false // in a ``` block, where a "# " line is a comment
	for _, l := range strings.SplitAfter(rest, "\n") {
		if strings.HasPrefix(strings.TrimLeft(l, " "), "```") {
			fenced = !fenced
			continue
		}
		if h, _, _ := strings.Cut(l, " "); !fenced && strings.HasPrefix(l, "#") && len(h) <= len(level) && strings.Trim(h, "#") == "" {
			section, _, _ := strings.Cut(rest, l)
			return section
		}
	}
	return rest
}

// TOMLBlock is one ```toml block of README.md.
type TOMLBlock struct {
	Line    int    // of the opening fence, 1-based
	Section string // the "## " heading it is under
	Text    string // its lines, with the fence's indentation taken off
}

// READMETOML returns every ```toml block of README.md, indented ones (in
// a numbered list) included, so that none is left out of a check.
func READMETOML(t testing.TB) []TOMLBlock {
	t.Helper()
	var blocks []TOMLBlock
	var cur *TOMLBlock
	indent, section := "", ""
	for i, l := range strings.Split(README(t), "\n") {
		trimmed := strings.TrimLeft(l, " ")
		switch {
		case cur == nil && strings.HasPrefix(l, "## "):
			section = l
		case cur == nil && trimmed == "```toml":
			indent = l[:len(l)-len(trimmed)]
			cur = &TOMLBlock{Line: i + 1, Section: section}
		case cur != nil && trimmed == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.Text += strings.TrimPrefix(l, indent) + "\n"
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: ```toml block never closed", cur.Line)
	}
	return blocks
}

// TOMLKeys returns the dotted keys of a decoded TOML document, tables and
// their keys alike ("limits", "limits.max_hops"); an array of tables adds
// its elements' keys under its own name ("stage.name"). Keys under a
// prefix in opaque (such as "stage.config") are not descended into.
func TOMLKeys(doc map[string]any, opaque ...string) map[string]bool {
	keys := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		for _, o := range opaque {
			if prefix == o {
				return
			}
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				keys[name] = true
				walk(name, e)
			}
		case []any:
			for _, e := range v {
				walk(prefix, e)
			}
		case []map[string]any:
			for _, e := range v {
				walk(prefix, e)
			}
		}
	}
	walk("", doc)
	return keys
}

// StructKeys returns the dotted keys a struct decodes, by the struct tag
// tag ("toml", "json"), as TOMLKeys names them: a nested struct or a
// slice of them adds its fields under its key, an embedded struct its
// fields at its own level. A map or a type in opaque stops the walk: its
// key is listed, what it holds is free-form.
func StructKeys(typ reflect.Type, tag string, opaque ...reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for k := range StructFields(typ, tag, opaque...) {
		keys[k] = true
	}
	return keys
}

// StructFields is StructKeys with each key's Go type.
func StructFields(typ reflect.Type, tag string, opaque ...reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for _, o := range opaque {
			if t == o {
				return
			}
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get(tag), ",")
			if f.Anonymous && name == "" {
				walk(prefix, f.Type)
				continue
			}
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			if prefix != "" {
				name = prefix + "." + name
			}
			keys[name] = f.Type
			walk(name, f.Type)
		}
	}
	walk("", typ)
	return keys
}

// Sorted returns m's keys in order, for stable test output.
func Sorted(m map[string]bool) []string {
	s := make([]string, 0, len(m))
	for k := range m {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}
