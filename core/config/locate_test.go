package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A comment after a table header, the SPEC's own style ("[dns]  # …"),
// spacing inside the brackets and dotted keys must not lose the line.
func TestErrorLinesSurviveCommentsAndSpacing(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"duplicate stage under commented headers",
			minimal + "[[stage]]  # first\nname = \"spf\"\nplugin = \"spf\"\n[[stage]]  # second\nname = \"spf\"\nplugin = \"spf\"\n",
			"f.toml:8: duplicate stage name \"spf\""},
		{"on_error under a commented header",
			minimal + "[[stage]] # x\nname = \"x\"\nplugin = \"spf\"\non_error = \"panic\"\n",
			"f.toml:7: on_error must be"},
		{"dns server under a commented header",
			minimal + "[dns]   # default: the nameservers of /etc/resolv.conf\nservers = [\"nohostport\"]\n",
			"f.toml:5: bad DNS server"},
		{"admin under a commented header",
			minimal + "[admin]  # the HTTP API\nlisten = \"bad\"\n",
			"f.toml:5: bad admin listen address"},
		{"spaces inside the brackets",
			minimal + "[ limits ]\n\nmax_connections = -5\n",
			"f.toml:6: max_connections must be positive"},
		{"dotted key at the top level",
			minimal[:len("hostname = \"mx.example.org\"\n")] + "limits.max_recipients = -1\n" + minimal[len("hostname = \"mx.example.org\"\n"):],
			"f.toml:2: max_recipients must be positive"},
		{"second stage's sub-table does not hide the stage",
			minimal + "[[stage]]\nname = \"a\"\nplugin = \"spf\"\n[stage.config]\nx = 1\n[[stage]]\nname = \"b\"\nplugin = \"spf\"\n[stage.config]\ny = 1\n[[stage]] # c\nname = \"b\"\nplugin = \"spf\"\n",
			"f.toml:15: duplicate stage name \"b\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// A number or boolean where a duration, kind or policy string belongs
// reaches UnmarshalText without a position from the decoder.
func TestNonStringValuesCarryLine(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"integer duration", minimal + "[delivery]\nport = 25\nmax_age = 5\n", "f.toml:6: delivery.max_age: bad duration \"5\""},
		{"integer duration in a stage", minimal + "[[stage]]\nname = \"x\"\nplugin = \"spf\"\ntimeout = 5\n", "f.toml:7: stage.timeout: bad duration \"5\""},
		{"boolean kind", minimal + "kind = true\n", "f.toml:4: listener.kind: kind must be"},
		{"integer in a retry list", minimal + "[delivery]\nretry = [\"1m\",\n  5]\n", "f.toml:5: delivery.retry: bad duration \"5\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// StageError lets the daemon's first-party plugin check, which this
// package cannot import, report file:line too.
func TestStageErrorHasLine(t *testing.T) {
	src := minimal + "[[stage]]  # spam\nname = \"x\"\nplugin = \"nosuch\"\n"
	c, err := Parse("f.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := c.StageError(0, "plugin", errors.New("no first-party plugin \"nosuch\""))
	if want := "f.toml:6: stage \"x\": no first-party plugin \"nosuch\""; got.Error() != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// A plugin path is checked here, with its line, not only when started.
func TestPluginPathMustBeExecutable(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"noexec": 0o644, "plugin": 0o755} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	stage := func(p string) string { return minimal + "[[stage]]\nname = \"x\"\nplugin = \"" + p + "\"\n" }
	cfg := filepath.Join(dir, "sluice.toml")
	for p, want := range map[string]string{
		"./noexec":  cfg + `:6: stage "x": plugin "./noexec" (` + filepath.Join(dir, "noexec") + ") is not an executable file",
		"./missing": cfg + `:6: stage "x": plugin "./missing" (` + filepath.Join(dir, "missing") + "): no such file or directory",
		"./":        cfg + `:6: stage "x": plugin "./" (` + dir + ") is not an executable file",
	} {
		if _, err := Parse(cfg, []byte(stage(p))); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("plugin %q: got %v, want prefix %q", p, err, want)
		}
	}
	if _, err := Parse(cfg, []byte(stage("./plugin"))); err != nil {
		t.Errorf("executable plugin: %v", err)
	}
}

func TestStageErrorUnwraps(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal+"[[stage]]\nname = \"x\"\nplugin = \"spf\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("cause")
	if got := c.StageError(0, "plugin", cause); !errors.Is(got, cause) {
		t.Fatalf("%v does not wrap its cause", got)
	}
}

// Tables written inline (stage = [{…}, {…}], rate = {…}) locate as their
// [[header]] forms do: an element's error is on its own line, and a key is
// named in full, with the key holding the inline table.
func TestInlineTablesLocate(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"duplicate inline stage",
			"hostname = \"mx.example.org\"\nlistener = [{listen = \"127.0.0.1:2525\"}]\nstage = [\n  {name = \"a\", plugin = \"spf\"},\n  {name = \"b\", plugin = \"spf\"},\n  {name = \"a\", plugin = \"spf\"},\n]\n",
			`f.toml:6: duplicate stage name "a"`},
		{"duplicate inline listener",
			"hostname = \"mx.example.org\"\nlistener = [\n  {name = \"a\", listen = \"127.0.0.1:2525\"},\n\n  {name = \"a\", listen = \"127.0.0.1:2526\"},\n]\n",
			`f.toml:5: duplicate listener name "a"`},
		{"key after an inline config table",
			minimal + "[[stage]]\nname = \"x\"\nplugin = \"spf\"\nconfig = {a = {b = 1}}\non_error = \"panic\"\n",
			`f.toml:8: on_error must be tempfail, continue or reject, not "panic"`},
		{"unknown key in an inline listener",
			"hostname = \"mx.example.org\"\nlistener = [\n  {listen = \"127.0.0.1:2525\"},\n  {listen = \"127.0.0.1:2526\", bogus = 1},\n]\n",
			`f.toml:4: unknown key listener.bogus`},
		{"unknown key in an inline rate",
			minimal + "[limits]\nmessage_rate_per_ip = { per_minute = 1, brust = 3 }\n",
			`f.toml:5: unknown key limits.message_rate_per_ip.brust`},
		{"wrong type in an inline rate",
			minimal + "[limits]\nmessage_rate_per_ip = { per_minute = \"1\" }\n",
			`f.toml:5: limits.message_rate_per_ip.per_minute: want an integer, not a string`},
		{"bad duration in an inline stage",
			"hostname = \"mx.example.org\"\nlistener = [{listen = \"127.0.0.1:2525\"}]\nstage = [\n  {name = \"a\", plugin = \"spf\"},\n  {name = \"b\", plugin = \"spf\", timeout = \"soon\"},\n]\n",
			`f.toml:5: stage.timeout: bad duration "soon" (use e.g. 30s, 5m, 2h, 5d)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
