package tablefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Lines is postmap's reading of a source file: continuation lines join
// the entry before, comment and blank lines are skipped (between a line
// and its continuation too), a # inside a line is text, CR and trailing
// blanks are dropped.
func TestLines(t *testing.T) {
	got, err := Lines("# head\nkey1 a,\n  # inside\n\tb\n\n  \nkey2 c # not a comment  \r\n")
	if err != nil {
		t.Fatal(err)
	}
	want := []Line{{Text: "key1 a,\tb", N: 2}, {Text: "key2 c # not a comment", N: 7}}
	if !slices.Equal(got, want) {
		t.Errorf("Lines = %+v, want %+v", got, want)
	}
	if _, err := Lines("# head\n  orphan\n"); err == nil || !strings.HasPrefix(err.Error(), "2: ") {
		t.Errorf("an indented first line: err %v, want one naming line 2", err)
	}
}

// words is a test table: the file's first words, or an error naming the
// line of a word "bad".
func words(b []byte) ([]string, error) {
	lines, err := Lines(string(b))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range lines {
		if l.Text == "bad" {
			return nil, fmt.Errorf("%d: bad", l.N)
		}
		out = append(out, l.Text)
	}
	return out, nil
}

// A File is read again when it changes, renamed over or written in
// place; a change that does not compile, or a file that cannot be read,
// keeps the table read before, warned of once per failure; a file that
// cannot be read is tried again at each call, as the chmod that mends it
// changes neither its time nor its size.
func TestFileReadAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	replace := func(content string) {
		t.Helper()
		if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".new", path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(path, words, nil); err == nil {
		t.Fatal("a missing file opened")
	}
	replace("bad\n")
	if _, err := Open(path, words, nil); err == nil || err.Error() != "1: bad" {
		t.Fatalf("a bad file at start: err %v", err)
	}
	replace("one\n")
	var warned []error
	f, err := Open(path, words, func(err error) { warned = append(warned, err) })
	if err != nil {
		t.Fatal(err)
	}
	want := func(what string, words ...string) {
		t.Helper()
		if got, _ := f.Current(); !slices.Equal(got, words) {
			t.Errorf("%s: %v, want %v", what, got, words)
		}
	}
	replace("one\ntwo\n")
	want("renamed over", "one", "two")
	replace("three\nbad\n")
	want("bad", "one", "two")
	want("bad, asked again", "one", "two")
	if _, err := f.Current(); err == nil || err.Error() != "2: bad" {
		t.Errorf("bad: err %v", err)
	}
	if len(warned) != 1 {
		t.Errorf("warnings %v, want one", warned)
	}
	replace("four\n")
	denied := true
	f.ReadFile = func(name string) ([]byte, error) {
		if denied {
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrPermission}
		}
		return os.ReadFile(name)
	}
	want("unreadable", "one", "two")
	want("unreadable, asked again", "one", "two")
	if len(warned) != 2 || !errors.Is(warned[1], os.ErrPermission) {
		t.Errorf("warnings %v, want a second one, of the permission", warned)
	}
	denied = false
	want("readable again", "four")
	if _, err := f.Current(); err != nil {
		t.Errorf("err %v once read", err)
	}
}

// replaceFile writes content to a new file and renames it over path, as
// an admin replacing a table whole does.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path+".new", []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// A file written in place (the same file: a shell's "> file", cp over
// it, an editor saving over it) is read once it has been left alone for
// Settle, not while its writer may be half way: truncated, or with its
// first lines only, it would read as a good table without the entries
// not yet written. A file renamed over the old one is read at once.
func TestFileWrittenInPlaceSettles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	replaceFile(t, path, "one\ntwo\n")
	f, err := Open(path, words, nil)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	f.Now = func() time.Time { return now }
	want := func(what string, words ...string) {
		t.Helper()
		if got, _ := f.Current(); !slices.Equal(got, words) {
			t.Errorf("%s: %v, want %v", what, got, words)
		}
	}
	// inPlace writes content over the file (O_TRUNC, the same inode)
	// and returns its modification time.
	inPlace := func(content string) time.Time {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime()
	}
	now = inPlace("")
	want("truncated by its writer", "one", "two")
	now = inPlace("one\n").Add(Settle - time.Millisecond)
	want("its first line written", "one", "two")
	now = inPlace("one\ntwo\nthree\n").Add(Settle)
	want("left alone for Settle", "one", "two", "three")
	// A clock apart (a file system of another host), as much ahead.
	now = inPlace("one\n").Add(-Settle + time.Millisecond)
	want("its time ahead of the clock", "one", "two", "three")
	now = now.Add(-time.Hour)
	want("its time far ahead of the clock", "one")

	replaceFile(t, path, "four\n")
	want("renamed over, at once", "four")
}

// A file replaced while it is read is not taken from that read, which
// may hold part of it: the next call reads it again. At Open, with no
// table read before, it is an error.
func TestFileChangedWhileRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	replaceFile(t, path, "one\n")
	f, err := Open(path, words, nil)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, "two\n")
	f.ReadFile = func(name string) ([]byte, error) {
		f.ReadFile = nil
		replaceFile(t, path, "three\nfour\n")
		return []byte("three\n"), nil // what was read of it, say
	}
	if got, err := f.Current(); !slices.Equal(got, []string{"one"}) || err != nil {
		t.Errorf("changed while read: %v, %v; want the table read before", got, err)
	}
	// A file system may give the new file the inode number of the one
	// last read, freed since: it then looks written in place, and is
	// read once settled.
	f.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if got, _ := f.Current(); !slices.Equal(got, []string{"three", "four"}) {
		t.Errorf("next call: %v, want the file read again", got)
	}

	g := &File[[]string]{path: path, compile: words}
	g.ReadFile = func(name string) ([]byte, error) {
		replaceFile(t, path, "five\n")
		return []byte("three\n"), nil
	}
	if _, err := g.Current(); err == nil || err.Error() != path+": changed while it was read" {
		t.Errorf("changed while read at start: err %v", err)
	}
}

// Lookups at once, as RCPTs on many connections are, read and compile a
// changed file once, and all get its table (run with -race).
func TestFileReadOnceForConcurrentCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	replaceFile(t, path, "one\n")
	var compiles atomic.Int32
	f, err := Open(path, func(b []byte) ([]string, error) {
		compiles.Add(1)
		return words(b)
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, "one\ntwo\n")
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, _ := f.Current(); !slices.Equal(got, []string{"one", "two"}) {
				t.Errorf("concurrent call: %v", got)
			}
		}()
	}
	wg.Wait()
	if n := compiles.Load(); n != 2 {
		t.Errorf("%d compiles, want 2 (Open's and the change's)", n)
	}
}

// A file removed and then written anew at its path ("rm file; cat >
// file", a script writing it from scratch) is a file written in place
// too, though another inode: once it was found missing, the file that
// appears is read once it has been left alone for Settle. Read at once,
// it was taken empty or with its first lines, and the table read before
// was gone.
func TestFileRemovedThenWrittenSettles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	replaceFile(t, path, "one\ntwo\n")
	f, err := Open(path, words, nil)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	f.Now = func() time.Time { return now }
	want := func(what string, words ...string) {
		t.Helper()
		if got, _ := f.Current(); !slices.Equal(got, words) {
			t.Errorf("%s: %v, want %v", what, got, words)
		}
	}
	write := func(content string) time.Time {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.ModTime()
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	want("removed", "one", "two")
	now = write("")
	want("created again, empty so far", "one", "two")
	now = write("one\n").Add(Settle - time.Millisecond)
	want("its first line written", "one", "two")
	now = write("one\ntwo\nthree\n").Add(Settle)
	want("left alone for Settle", "one", "two", "three")
	replaceFile(t, path, "four\n")
	want("renamed over, at once", "four")
}

// TestReadAgainUnchanged: ReadAgain has the next call compile the file again though it did not
// change, for a table whose compile looks at another: refused while the
// other held what it did, the same content is taken once the other
// changed. Without ReadAgain an unchanged file is not read; a file
// written in place since still settles first.
func TestReadAgainUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "table")
	replaceFile(t, path, "one\n")
	taken := "two" // a word the other table has: refused here
	var compiles int
	f, err := Open(path, func(b []byte) ([]string, error) {
		compiles++
		w, err := words(b)
		if err == nil && slices.Contains(w, taken) {
			return nil, fmt.Errorf("%q: in the other table", taken)
		}
		return w, err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	f.Now = func() time.Time { return now }
	want := func(what string, words ...string) {
		t.Helper()
		if got, _ := f.Current(); !slices.Equal(got, words) {
			t.Errorf("%s: %v, want %v", what, got, words)
		}
	}
	replaceFile(t, path, "one\ntwo\n")
	want("refused", "one")
	taken = "" // the other table let it go
	want("not changed, not read", "one")
	if compiles != 2 {
		t.Errorf("%d compiles, want 2", compiles)
	}
	f.ReadAgain()
	want("read again", "one", "two")
	want("once", "one", "two")
	if compiles != 3 {
		t.Errorf("%d compiles, want 3", compiles)
	}

	if err := os.WriteFile(path, []byte("three\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	now = st.ModTime()
	f.ReadAgain()
	want("written in place, asked again", "one", "two")
	now = now.Add(Settle)
	want("settled", "three")
}
