package filter

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/internal/pfaccess"
	"github.com/sluice-mta/sluice/internal/tablefile"
)

// accessTable is the Postfix lookup table an access rule names, read from
// its text file. It is read again when the file changes on disk
// (tablefile), as the route plugin's recipients_file and aliases_file
// are: a reload keeps the plugin of an unchanged [stage.config] running,
// so a table read only at start would never see an entry added to it.
type accessTable struct {
	spec string // as written: "hash:/etc/postfix/sender_access"
	kind string // indexed, cidr, regexp or pcre
	path string
	file *tablefile.File[accessMap]
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
	t := &accessTable{spec: spec, path: path}
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
	f, err := tablefile.Open(path, t.compile, warn)
	if err != nil {
		return nil, err
	}
	t.file = f
	return t, nil
}

// current returns the table, read again first if its file changed; err
// says why the latest file could not be read, the table returned being
// the one read before.
func (t *accessTable) current() (accessMap, error) { return t.file.Current() }

// compile compiles the file's content b; an error names the file and line.
func (t *accessTable) compile(b []byte) (accessMap, error) {
	lines, err := tablefile.Lines(string(b))
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
func readIndexed(path string, lines []tablefile.Line) (accessMap, error) {
	m := indexedTable{}
	for _, l := range lines {
		key, value := pfaccess.SplitWord(l.Text)
		if value == "" {
			return nil, fmt.Errorf("%s:%d: want \"key value\" (an access table's value is its action: OK, REJECT, ...)", path, l.N)
		}
		a, err := parseAccessValue(value)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, l.N, err)
		}
		k := strings.ToLower(key)
		if _, dup := m[k]; !dup {
			m[k] = accessEntry{key: key, line: l.N, value: a, raw: value}
		}
	}
	return m, nil
}
