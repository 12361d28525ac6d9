package filter

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/sluice-mta/sluice/internal/pfaccess"
)

// accessTable is the Postfix lookup table an access rule names, read from
// its text file. It is read again when the file changes on disk, as the
// route plugin's recipients_file is: a reload keeps the plugin of an
// unchanged [stage.config] running, so a table read only at start would
// never see an entry added to it.
type accessTable struct {
	spec string // as written: "hash:/etc/postfix/sender_access"
	kind string // indexed, cidr, regexp or pcre
	path string
	// warn reports a table that could not be read again, once per failure.
	warn func(err error)
	// readFile reads the file; nil means os.ReadFile. Tests make it fail.
	readFile func(string) ([]byte, error)

	mu   sync.Mutex
	cur  accessMap   // the table as last read well
	seen os.FileInfo // the file as last read, well or not
	err  error       // the last failed read: the table read before stays
}

// accessMap is a table's entries.
type accessMap interface {
	// find returns the entry key finds.
	find(key string) (accessEntry, bool)
	// indexed reports whether the table is a key-value one (hash and the
	// like), which alone answers the lookups of a key's parts: a parent
	// domain, user@, a network. Postfix asks cidr, regexp and pcre tables
	// about the whole string only (access(5), REGULAR EXPRESSION TABLES).
	indexed() bool
}

// accessEntry is what a lookup found.
type accessEntry struct {
	key   string // the key or pattern that found it, as written
	line  int
	value accessValue
	raw   string // the value, after $n substitution
	// err says why a value made by $n substitution is not one.
	err error
}

// Table types. The key-value types are read from the text file postmap
// builds them from (the path as written, which Postfix names without its
// .db suffix): Sluice reads no Berkeley DB, LMDB or CDB file. texthash
// is that text file already.
var indexedTypes = map[string]bool{"hash": true, "btree": true, "lmdb": true, "cdb": true,
	"dbm": true, "sdbm": true, "texthash": true}

// builtSuffixes are the files postmap writes beside the text file.
var builtSuffixes = []string{".db", ".lmdb", ".cdb", ".dir", ".pag"}

// openAccessTable reads the table spec names. Missing or wrong at start is
// an error (and check-config's); later, a bad file leaves the table read
// before in force.
func openAccessTable(spec string, warn func(error)) (*accessTable, error) {
	typ, path, ok := strings.Cut(strings.TrimPrefix(spec, "proxy:"), ":")
	if !ok {
		// Postfix's default_database_type.
		typ, path = "hash", spec
	}
	t := &accessTable{spec: spec, path: path, warn: warn}
	switch {
	case indexedTypes[typ]:
		t.kind = "indexed"
		for _, suf := range builtSuffixes {
			if strings.HasSuffix(path, suf) {
				return nil, fmt.Errorf("%s: name the text file postmap reads (%s), not the file it builds", spec, strings.TrimSuffix(path, suf))
			}
		}
	case typ == "cidr" || typ == "regexp" || typ == "pcre":
		t.kind = typ
	default:
		return nil, fmt.Errorf("%s: table type %q is not supported (want hash, btree, lmdb, cdb, dbm, sdbm, texthash, cidr, regexp or pcre)", spec, typ)
	}
	if path == "" {
		return nil, fmt.Errorf("%s: no file named", spec)
	}
	if _, err := t.current(); err != nil {
		return nil, err
	}
	return t, nil
}

// current returns the table, reading the file again first if it changed
// since it was last read; err says why the latest file could not be
// read, the table returned being the one read before.
func (t *accessTable) current() (accessMap, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := os.Stat(t.path)
	switch {
	case err != nil:
		t.seen = nil
	case unchangedFile(t.seen, st):
		return t.cur, t.err
	default:
		var b []byte
		if b, err = t.read(); err != nil {
			// Not read (a file the plugin may not read, renamed over with
			// the writer's umask): tried again at the next lookup, since
			// the chmod that mends it changes neither the file's time nor
			// its size. A file read but wrong waits for its next change.
			t.seen = nil
			break
		}
		t.seen = st
		var m accessMap
		if m, err = t.compile(b); err == nil {
			t.cur, t.err = m, nil
			return m, nil
		}
	}
	if t.cur != nil && t.warn != nil && (t.err == nil || t.err.Error() != err.Error()) {
		t.warn(err)
	}
	t.err = err
	return t.cur, err
}

// unchangedFile reports whether b is the file a was: same inode (a file
// renamed over it is another), modification time and size.
func unchangedFile(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// read reads the file.
func (t *accessTable) read() ([]byte, error) {
	if t.readFile != nil {
		return t.readFile(t.path)
	}
	return os.ReadFile(t.path)
}

// compile compiles the file's content b; an error names the file and line.
func (t *accessTable) compile(b []byte) (accessMap, error) {
	lines, err := logicalLines(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s:%w", t.path, err)
	}
	switch t.kind {
	case "indexed":
		return readIndexed(t.path, lines)
	case "cidr":
		return readCIDR(t.path, lines)
	default:
		return readPatterns(t.path, t.kind, lines)
	}
}

// logicalLine is one entry of a table file.
type logicalLine struct {
	text string
	n    int // the line it starts on
}

// logicalLines splits a table file as Postfix's readlline does: a line
// that starts with white space continues the one before (the line break
// dropped, its white space kept), and blank lines and lines whose first
// non-blank character is # are skipped, also between a line and its
// continuation.
func logicalLines(s string) ([]logicalLine, error) {
	var out []logicalLine
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
			out[len(out)-1].text += l
			continue
		}
		out = append(out, logicalLine{text: l, n: i + 1})
	}
	for i := range out {
		out[i].text = strings.TrimRight(out[i].text, " \t\r")
	}
	return out, nil
}

// indexedTable is a key-value table.
type indexedTable map[string]accessEntry

func (m indexedTable) find(key string) (accessEntry, bool) {
	e, ok := m[strings.ToLower(key)]
	return e, ok
}

func (indexedTable) indexed() bool { return true }

// readIndexed reads postmap's source format: "key value", the key up to
// the first white space and folded to lower case, as postmap folds it
// (and the key looked up). A key given twice keeps its first value, as
// postmap does.
func readIndexed(path string, lines []logicalLine) (accessMap, error) {
	m := indexedTable{}
	for _, l := range lines {
		key, value := pfaccess.SplitWord(l.text)
		if value == "" {
			return nil, fmt.Errorf("%s:%d: want \"key value\" (an access table's value is its action: OK, REJECT, ...)", path, l.n)
		}
		a, err := parseAccessValue(value)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, l.n, err)
		}
		k := strings.ToLower(key)
		if _, dup := m[k]; !dup {
			m[k] = accessEntry{key: key, line: l.n, value: a, raw: value}
		}
	}
	return m, nil
}
