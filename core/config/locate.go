package config

import (
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps a key path ("stage", "1", "plugin" joined by pathSep) to
// the line it is written on. It comes from the TOML parser, not from
// matching text, so comments after a header ("[dns]  # …"), spacing inside
// brackets, dotted keys and inline tables all locate the same way.
type positions map[string]int

// pathSep joins path parts; a key may itself contain dots ("bob@example.org").
const pathSep = "\x00"

// exprPos is one top-level expression: its end offset in the document, its
// line, and the key it sets, for decodeError to bisect on.
type exprPos struct {
	end  int
	line int
	key  string // dotted, without array indices, as the decoder names keys
}

// keyPos is one key anywhere in the document, inline tables included:
// the offset of its first part and its whole dotted name without array
// indices ("limits.message_rate_per_ip.burst"). The decoder names a key
// inside an inline table without the key that holds the table; this names
// it in full.
type keyPos struct {
	off  int
	name string
}

// located is what locate finds in a document.
type located struct {
	pos   positions
	exprs []exprPos
	keys  []keyPos
	nl    []int // offsets of the newlines, to turn an offset into a line
}

// line turns an offset into a 1-based line number.
func (l *located) line(off uint32) int { return sort.SearchInts(l.nl, int(off)) + 1 }

// offset turns a 1-based line and byte column, as the decoder reports
// them, into an offset.
func (l *located) offset(line, col int) int {
	start := 0
	if line > 1 && line-2 < len(l.nl) {
		start = l.nl[line-2] + 1
	}
	return start + col - 1
}

// locate parses data and records where every table and key is, those of
// inline tables (stage = [{name = "a"}, …]) included. A document that does
// not parse yields what was found before the error; the decoder has
// reported the syntax error itself.
func locate(data []byte) *located {
	l := &located{pos: positions{}}
	count := map[string]int{} // array-of-tables path -> last index
	for i, b := range data {
		if b == '\n' {
			l.nl = append(l.nl, i)
		}
	}
	var p unstable.Parser
	p.Reset(data)
	var table, tableName []string
	for p.NextExpression() {
		e := p.Expression()
		keys, off := keyParts(e)
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			path := resolve(count, keys)
			if e.Kind == unstable.ArrayTable {
				// The header's own name opens a new element, not the last one.
				path = append(resolve(count, keys[:len(keys)-1]), keys[len(keys)-1])
				k := strings.Join(path, pathSep)
				n, ok := count[k]
				if ok {
					n++
				}
				count[k] = n
				path = append(path, strconv.Itoa(n))
			}
			table, tableName = path, keys
			l.pos.setIfNew(path, l.line(off))
		case unstable.KeyValue:
			name := append(append([]string(nil), tableName...), keys...)
			l.keyValue(append(append([]string(nil), table...), resolve(count, keys)...), name, e, off)
			l.exprs = append(l.exprs, exprPos{
				end:  int(e.Raw.Offset + e.Raw.Length),
				line: l.line(off),
				key:  strings.Join(name, "."),
			})
		}
	}
	return l
}

// keyValue records the key of kv, whose first part is at off, as path
// and name, then the keys inside its value.
func (l *located) keyValue(path, name []string, kv *unstable.Node, off uint32) {
	l.pos.setIfNew(path, l.line(off))
	l.keys = append(l.keys, keyPos{off: int(off), name: strings.Join(name, ".")})
	l.value(path, name, kv.Value())
}

// value records the keys of an inline table, and of the inline tables in
// an array under their index (the second element of stage = [{…}, {…}]
// is stage.1, as the second [[stage]] is).
func (l *located) value(path, name []string, v *unstable.Node) {
	it := v.Children()
	switch v.Kind {
	case unstable.InlineTable:
		for it.Next() {
			kv := it.Node()
			keys, off := keyParts(kv)
			l.keyValue(append(append([]string(nil), path...), keys...), append(append([]string(nil), name...), keys...), kv, off)
		}
	case unstable.Array:
		for i := 0; it.Next(); i++ {
			l.value(append(append([]string(nil), path...), strconv.Itoa(i)), name, it.Node())
		}
	}
}

// keyName is the full dotted name of the key the decoder reports at line
// and col with the parts key. The decoder points at the key for an
// unknown one, and names it from its innermost table; for a value of the
// wrong type it points at the value, and may name only the table holding
// it, so the last key written before that point is the one when it is
// key or inside it, or ends like it. Otherwise key is as the decoder gives it.
func (l *located) keyName(line, col int, key []string) string {
	dotted := strings.Join(key, ".")
	if len(key) == 0 {
		return dotted
	}
	off := l.offset(line, col)
	before := ""
	for _, k := range l.keys {
		if k.off == off {
			return k.name
		}
		if k.off < off {
			before = k.name
		}
	}
	if before == dotted || strings.HasPrefix(before, dotted+".") || strings.HasSuffix(before, "."+key[len(key)-1]) {
		return before
	}
	return dotted
}

// keyParts returns a header's or key-value's key and the offset of its
// first part.
func keyParts(e *unstable.Node) (keys []string, off uint32) {
	it := e.Key()
	for it.Next() {
		k := it.Node()
		if keys == nil {
			off = k.Raw.Offset
		}
		keys = append(keys, string(k.Data))
	}
	return keys, off
}

// resolve inserts the current index after each part that names an array of
// tables, so [stage.config] after the second [[stage]] is stage.1.config.
func resolve(count map[string]int, keys []string) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k)
		if n, ok := count[strings.Join(out, pathSep)]; ok {
			out = append(out, strconv.Itoa(n))
		}
	}
	return out
}

// setIfNew records line for path and for each enclosing path not seen yet
// (a dotted key "limits.max_errors = 1" also defines "limits").
func (pos positions) setIfNew(path []string, line int) {
	for i := len(path); i > 0; i-- {
		k := strings.Join(path[:i], pathSep)
		if _, ok := pos[k]; ok {
			continue
		}
		pos[k] = line
	}
}

// line returns where path is written, or else where its nearest enclosing
// table is; 0 when neither is in the file (a value left to its default).
func (pos positions) line(path []string) int {
	for i := len(path); i > 0; i-- {
		if n, ok := pos[strings.Join(path[:i], pathSep)]; ok {
			return n
		}
	}
	return 0
}

// finder turns validation failures into positioned errors.
type finder struct {
	file string
	pos  positions
}

// err reports msg at key inside the index'th [[table]] (index -1 for a plain
// [table], table "" for the top level; a dotted table is a path, as
// "auth.senders").
func (f finder) err(table string, index int, key, msg string) error {
	var path []string
	if table != "" {
		path = strings.Split(table, ".")
	}
	if index >= 0 {
		path = append(path, strconv.Itoa(index))
	}
	if key != "" {
		path = append(path, key)
	}
	return &Error{File: f.file, Line: f.pos.line(path), Msg: msg}
}
