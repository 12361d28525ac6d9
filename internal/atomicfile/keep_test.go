package atomicfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A replaced file keeps its mode, owner and group; a new one gets perm.
func TestWriteKeepingKeepsModeOwnerAndGroup(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "users")
	if err := WriteKeeping(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: mode %v, want 0600", fi.Mode())
	}
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	// Root hands the file to nobody:nogroup, as to root:sluice; anyone
	// else keeps it as theirs (the uid and gid the write must keep).
	uid, gid := os.Getuid(), os.Getgid()
	if uid == 0 {
		uid, gid = 65534, 65534
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteKeeping(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	fi, _ := os.Stat(p)
	st := fi.Sys().(*syscall.Stat_t)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Fatalf("replaced: %q mode %v owner %d:%d (%v), want two 0640 %d:%d", b, fi.Mode(), st.Uid, st.Gid, err, uid, gid)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary file left behind: %v", entries)
	}
}

// A symlink is written through: the file it names gets the new content
// and the link stays a link, as an operator who keeps the file elsewhere
// made it.
func TestWriteKeepingFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "shared"), 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "shared", "users")
	if err := os.WriteFile(target, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "users")
	if err := os.Symlink("shared/users", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeeping(link, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(link); err != nil || l != "shared/users" {
		t.Errorf("the link was replaced: %q %v", l, err)
	}
	b, err := os.ReadFile(target)
	fi, _ := os.Stat(target)
	if err != nil || string(b) != "two" || fi.Mode().Perm() != 0o640 {
		t.Errorf("the file the link names: %q mode %v (%v), want two 0640", b, fi.Mode(), err)
	}
	for d, n := range map[string]int{dir: 2, filepath.Join(dir, "shared"): 1} {
		if entries, _ := os.ReadDir(d); len(entries) != n {
			t.Errorf("temporary file left behind in %s: %v", d, entries)
		}
	}
}
