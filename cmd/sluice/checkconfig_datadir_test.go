package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A data_dir serve cannot make (a file, a directory under a file) fails
// check-config at data_dir's line, where it used to pass it and serve then
// stopped with "sluice: data_dir: mkdir …: not a directory", no line; serve
// now says what check-config says.
func TestCheckConfigDataDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, dataDir, want string }{
		{"a file", "afile", `:2: data_dir "` + file + `": is a file, not a directory`},
		{"under a file", "afile/queue", `:2: data_dir "` + file + `/queue": ` + file + ` is a file, not a directory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "sluice.toml")
			src := "hostname = \"mx.example.org\"\ndata_dir = \"" + tc.dataDir + "\"\n" +
				"[dns]\nservers = [\"127.0.0.1:1\"]\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			want := path + tc.want + "\n"
			var o, e bytes.Buffer
			if code := run([]string{"check-config", "-c", path}, nil, &o, &e); code != 1 || e.String() != want {
				t.Fatalf("check-config: exit %d, stderr %q\nwant exit 1, %q", code, e.String(), want)
			}
			o.Reset()
			e.Reset()
			if code := run([]string{"serve", "-c", path}, nil, &o, &e); code != 1 || e.String() != want {
				t.Fatalf("serve: exit %d, stderr %q\nwant exit 1, %q", code, e.String(), want)
			}
		})
	}
	// A data_dir that is not there yet is made by serve; check-config
	// passes it and makes nothing.
	path := filepath.Join(dir, "new.toml")
	src := "hostname = \"mx.example.org\"\ndata_dir = \"new/queue\"\n" +
		"[dns]\nservers = [\"127.0.0.1:1\"]\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "check-config", "-c", path)
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Fatalf("check-config made data_dir's parent: %v", err)
	}
}
