package tablefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
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
