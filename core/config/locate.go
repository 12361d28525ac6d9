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
// brackets and dotted keys all locate the same way.
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

// locate parses data and records where every table and key is. A document
// that does not parse yields what was found before the error; the decoder
// has reported the syntax error itself.
func locate(data []byte) (positions, []exprPos) {
	pos := positions{}
	var exprs []exprPos
	count := map[string]int{} // array-of-tables path -> last index
	var nl []int              // offsets of the newlines, to turn an offset into a line
	for i, b := range data {
		if b == '\n' {
			nl = append(nl, i)
		}
	}
	lineOf := func(off uint32) int { return sort.SearchInts(nl, int(off)) + 1 }
	var p unstable.Parser
	p.Reset(data)
	var table, tableName []string
	for p.NextExpression() {
		e := p.Expression()
		keys, off := keyParts(e)
		line := lineOf(off)
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
			pos.setIfNew(path, line)
		case unstable.KeyValue:
			path := append(append([]string(nil), table...), resolve(count, keys)...)
			pos.setIfNew(path, line)
			exprs = append(exprs, exprPos{
				end:  int(e.Raw.Offset + e.Raw.Length),
				line: line,
				key:  strings.Join(append(append([]string(nil), tableName...), keys...), "."),
			})
		}
	}
	return pos, exprs
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
