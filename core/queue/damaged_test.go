package queue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A queue Pebble finds damaged at open is not set aside as a stage's
// state file is: it holds accepted mail. The start stops with an error
// that names the directory and the damaged file and says what to do.
func TestOpenDamagedSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*"))
	if len(manifests) == 0 {
		t.Fatal("no MANIFEST")
	}
	for _, m := range manifests {
		if err := os.WriteFile(m, []byte("garbage\x00\x01"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err = Open(dir, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("a damaged queue opened")
	}
	for _, want := range []string{"queue: open " + dir, filepath.Base(manifests[len(manifests)-1]), "holds the mail Sluice accepted", "restore " + dir + " from a backup", "move it away"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(left) != len(manifests) {
		t.Errorf("the damaged queue was changed: %v", left)
	}
}
