package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A listener or the admin API whose address is taken stops serve with
// the error at that listen line, "file:line: …", as every config error
// is; it was "sluice: smtpd: listener mx: listen tcp …" with no line.
func TestServeBindErrorHasLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, smtp, admin, want string
	}{
		{"listener", taken, "", ":8: listener mx: listen tcp " + taken + ": bind: address already in use"},
		{"admin", "127.0.0.1:0", taken, ":6: admin listen: listen tcp " + taken + ": bind: address already in use"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".toml")
			src := "hostname = \"mx.example.org\"\ndata_dir = \"data\"\n" +
				"[dns]\nservers = [\"127.0.0.1:1\"]\n" +
				"[admin]\nlisten = \"" + tc.admin + "\"\n" +
				"[[listener]]\nlisten = \"" + tc.smtp + "\"\nname = \"mx\"\n"
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			var o, e bytes.Buffer
			code := run([]string{"serve", "-c", path}, nil, &o, &e)
			lines := strings.Split(strings.TrimSpace(e.String()), "\n")
			if want := path + tc.want; code != 1 || lines[len(lines)-1] != want {
				t.Fatalf("serve: exit %d, stderr %q\nwant exit 1, ending %q", code, e.String(), want)
			}
		})
	}
}
