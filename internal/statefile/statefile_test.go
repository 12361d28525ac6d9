package statefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// A file that cannot be read is moved to NAME.bad and the warning names
// both; one that cannot be moved stays, the warning giving why.
func TestSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	SetAside(log, "test: the state cannot be read", path, errors.New("bad JSON"))
	var rec map[string]any
	if err := json.Unmarshal(logged.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "test: the state cannot be read, the file set aside" ||
		rec["file"] != path || rec["err"] != "bad JSON" || rec["set_aside"] != path+".bad" {
		t.Errorf("warning %v", rec)
	}
	if b, err := os.ReadFile(path + ".bad"); err != nil || string(b) != "{not json" {
		t.Errorf("set aside %q, %v", b, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there: %v", path, err)
	}

	// A directory where the .bad would go: the file cannot be moved.
	if err := os.WriteFile(path, []byte("again"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path + ".bad"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path+".bad", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	logged.Reset()
	SetAside(log, "test: the state cannot be read", path, errors.New("bad JSON"))
	rec = nil
	if err := json.Unmarshal(logged.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "test: the state cannot be read" || rec["file"] != path || rec["set_aside"] == nil || rec["set_aside"] == path+".bad" {
		t.Errorf("warning %v", rec)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "again" {
		t.Errorf("the file moved: %q, %v", b, err)
	}
}
