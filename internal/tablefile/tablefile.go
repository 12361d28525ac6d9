// Package tablefile is a lookup table kept in a text file that other
// tools write (a Postfix access(5) or virtual(5) table, a maddy
// table.file), read as Postfix's postmap reads its source and read again
// when the file changes on disk. The filter's access tables and the
// route plugin's aliases_file, recipients_file and secrets_file share
// it: a reload keeps the plugin of an unchanged [stage.config] running,
// so a table read only at start would never see an entry added to it.
package tablefile

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Settle is how long a file written in place (the same file, with
// another size or modification time) must have been left alone before
// it is read again: a shell's "> file", cp over it or an editor saving
// over it truncate the file and write it in pieces, and a table read
// half way would be taken as the whole, the entries not yet written
// gone until the next read. Two seconds is over a second of quiet on a
// file system keeping whole seconds (ext3, HFS+). A file renamed over
// the old one was written whole before the rename: it is read at once.
const Settle = 2 * time.Second

// File is a table read from a file. Current reads the file again when it
// changed since it was last read, and keeps the table read before when
// the new content does not compile: a bad edit never takes a table away.
type File[T any] struct {
	path    string
	compile func([]byte) (T, error)
	// warn reports a file that could not be read again, once per failure
	// (a failure with another text is another one).
	warn func(error)
	// ReadFile reads the file; nil means os.ReadFile. Tests set it, before
	// the table is used, to make a read fail.
	ReadFile func(string) ([]byte, error)
	// Now is the clock a file written in place settles by (Settle); nil
	// means time.Now. Tests set it before the table is used.
	Now func() time.Time

	mu   sync.Mutex
	cur  T
	good bool        // cur was read well once
	seen os.FileInfo // the file as last read, well or not
	// gone: the file was found missing since it was last read. One that
	// appears at path may be being written there ("rm file; cat > file",
	// a script writing it anew): it settles too.
	gone bool
	// again: read the file at the next call though it did not change
	// (ReadAgain).
	again bool
	err   error // the last failed read: the table read before stays
}

// Open reads the table at path with compile, whose error names the file
// and line. Missing or wrong at start is an error (and check-config's);
// later, warn (which may be nil) is told of a file that could not be
// read again, the table read before staying in force.
func Open[T any](path string, compile func([]byte) (T, error), warn func(error)) (*File[T], error) {
	f := &File[T]{path: path, compile: compile, warn: warn}
	if _, err := f.Current(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is the file's name, as given to Open.
func (f *File[T]) Path() string { return f.path }

// Current returns the table, reading the file again first if it changed
// since it was last read (written in place, once it has been left alone
// for Settle); err says why the latest file could not be read, the table
// returned being the one read before. Calls wait for one another: a
// change is read and compiled once, however many ask at once.
func (f *File[T]) Current() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	same := err == nil && Unchanged(f.seen, st)
	switch {
	case err != nil:
		f.seen, f.gone = nil, true
	case same && !f.again:
		return f.cur, f.err
	case !same && (f.gone || f.seen != nil && os.SameFile(f.seen, st)) && f.settling(st):
		// Written in place, lately, or created again since the file was
		// found missing: the writer may not be done. The table read
		// before stays until the file has been left alone for Settle
		// (seen is kept, so the next call looks again).
		return f.cur, f.err
	default:
		// Changed, and settled or renamed over; or as last read (whole)
		// and asked for again.
		f.again = false
		var b []byte
		if b, err = f.read(); err != nil {
			// Not read (a file the plugin may not read, renamed over with
			// the writer's umask): tried again at the next lookup, since
			// the chmod that mends it changes neither the file's time nor
			// its size. A file read but wrong waits for its next change.
			f.seen = nil
			break
		}
		if again, serr := os.Stat(f.path); serr != nil || !Unchanged(st, again) {
			// Written to, or replaced, while it was read: what was read
			// may be part of it. Read at a next call, once still; at
			// Open, with no table read before, it is an error.
			if f.good {
				return f.cur, f.err
			}
			f.seen, err = nil, fmt.Errorf("%s: changed while it was read", f.path)
			break
		}
		f.seen, f.gone = st, false
		var t T
		if t, err = f.compile(b); err == nil {
			f.cur, f.good, f.err = t, true, nil
			return t, nil
		}
	}
	if f.good && f.warn != nil && (f.err == nil || f.err.Error() != err.Error()) {
		f.warn(err)
	}
	f.err = err
	return f.cur, err
}

// ReadAgain has the next Current read and compile the file though it did
// not change (one written in place since still settles first): for a
// table whose compile looks at another table, which may take the same
// content once the other changed. The route plugin's aliases_file list
// refuses a key that another of its files has, and an alias moved from
// one file to the other is taken once both are.
func (f *File[T]) ReadAgain() {
	f.mu.Lock()
	f.again = true
	f.mu.Unlock()
}

// settling reports whether st, the file as it is now, was modified less
// than Settle ago (or, a clock apart, as much in the future).
func (f *File[T]) settling(st os.FileInfo) bool {
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	d := now().Sub(st.ModTime())
	return d < Settle && d > -Settle
}

// read reads the file.
func (f *File[T]) read() ([]byte, error) {
	if f.ReadFile != nil {
		return f.ReadFile(f.path)
	}
	return os.ReadFile(f.path)
}

// Unchanged reports whether b is the file a was: same inode (a file
// renamed over it is another), modification time and size.
func Unchanged(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// Line is one entry of a table file.
type Line struct {
	Text string
	N    int // the line it starts on
}

// Lines splits a table file as Postfix's readlline does: a line that
// starts with white space continues the one before (the line break
// dropped, its white space kept), and blank lines and lines whose first
// non-blank character is # are skipped, also between a line and its
// continuation. A # elsewhere is text, as in Postfix. Each entry's
// trailing white space is trimmed.
func Lines(s string) ([]Line, error) {
	var out []Line
	for i, l := range strings.Split(s, "\n") {
		l = strings.TrimSuffix(l, "\r")
		trimmed := strings.TrimLeft(l, " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if len(trimmed) < len(l) {
			if len(out) == 0 {
				return nil, fmt.Errorf("%d: a line starting with white space continues the one before, and there is none", i+1)
			}
			out[len(out)-1].Text += l
			continue
		}
		out = append(out, Line{Text: l, N: i + 1})
	}
	for i := range out {
		out[i].Text = strings.TrimRight(out[i].Text, " \t\r")
	}
	return out, nil
}
