package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// [delivery] fallback_relay entries written as smtp: routes are checked
// as the relay is: check-config parses each and finds its authfile,
// relative to the config file, or names the entry at the key's line.
func TestCheckConfigFallbackRelay(t *testing.T) {
	dir := t.TempDir()
	const head = "hostname = \"mx.example.org\"\n[dns]\nservers = [\"127.0.0.1:1\"]\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n[delivery]\n"
	for _, tc := range []struct{ name, list, want string }{
		{"ok", `["[backup.example.net]", "smtp:b2.example.net:587?tls=verify&authfile=fb.auth"]`, ""},
		{"no authfile", `["backup.example.net", "smtp:b2.example.net:587?authfile=missing.auth"]`, `:8: fallback_relay "smtp:b2.example.net:587?authfile=missing.auth": stat `},
		{"bad parameter", `["smtp:b2.example.net?tls=maybe"]`, `:8: route "smtp:b2.example.net?tls=maybe"`},
		{"bad host", `["b2 example"]`, `:8: fallback_relay[0] = "b2 example": `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, filepath.Join(dir, "fb.auth"), "user:secret\n")
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".toml")
			writeFile(t, path, head+"fallback_relay = "+tc.list+"\n")
			var o, e bytes.Buffer
			code := run([]string{"check-config", "-c", path}, nil, &o, &e)
			if tc.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s", code, e.String())
				}
				return
			}
			if code != 1 || !strings.HasPrefix(e.String(), path+tc.want) {
				t.Fatalf("exit %d, stderr %q, want prefix %q", code, e.String(), path+tc.want)
			}
		})
	}
}
