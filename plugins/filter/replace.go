package filter

import (
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/sdk"
)

// compileReplace checks the replace action (Postfix's header_checks
// REPLACE, and IGNORE when replace is ""). Postfix refuses a header
// REPLACE text that is not "name: value" (a warning for each message);
// here it is refused once, at start, and so is a value the core would
// refuse to write, a line break or NUL among them (RFC 5322 §2.2). The
// rule needs match, to say which fields it rewrites; it applies to
// header rules only: Postfix's body_checks REPLACE rewrites one body
// line, which would have to be done across encodings and MIME parts here.
func (r *rule) compileReplace(rc RuleConfig) error {
	switch {
	case rc.Replace == nil:
		return fmt.Errorf(`replace needs replace = "Name: value" (the field put in place of each field matched), or replace = "" to delete them`)
	case rc.Hook != hookHeader:
		return fmt.Errorf("replace applies to header rules only")
	case r.match == nil:
		return fmt.Errorf("replace needs match (which fields it rewrites)")
	}
	text := *rc.Replace
	if text == "" {
		return nil // delete: Postfix's IGNORE
	}
	name, value, ok := strings.Cut(text, ":")
	if !ok {
		return fmt.Errorf(`replace %q: want "Name: value" (Postfix's "headername: headervalue")`, text)
	}
	if err := sdk.CheckFieldName(name); err != nil {
		return fmt.Errorf("replace %q: %v", text, err)
	}
	if strings.Contains(name, "$") {
		return fmt.Errorf("replace %q: $ references are expanded in the value only", text)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("replace must be one line, without NUL")
	}
	if err := checkReferences(value, r.match.NumSubexp(), r.match.SubexpNames()); err != nil {
		return fmt.Errorf("replace %q: %v", text, err)
	}
	r.replaceName, r.replaceValue = name, strings.TrimLeft(value, " \t")
	return nil
}

// checkReferences refuses a $ reference in template that names no group of
// the rule's match: Go's regexp.Expand, like Postfix, takes "$1x" as the
// group named "1x" and writes nothing for it, which is never what was meant.
func checkReferences(template string, groups int, names []string) error {
	for i := 0; i < len(template); i++ {
		if template[i] != '$' || i+1 == len(template) {
			continue
		}
		rest := template[i+1:]
		if rest[0] == '$' {
			i++ // "$$" is a literal $
			continue
		}
		var name string
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue // not a reference: copied as written
			}
			name = rest[1:end]
		} else {
			n := 0
			for n < len(rest) && (rest[n] == '_' || rest[n] >= '0' && rest[n] <= '9' || rest[n] >= 'a' && rest[n] <= 'z' || rest[n] >= 'A' && rest[n] <= 'Z') {
				n++
			}
			name = rest[:n]
		}
		if name == "" {
			continue
		}
		if k, err := strconv.Atoi(name); err == nil && k >= 0 && k <= groups {
			continue
		}
		known := false
		for _, g := range names {
			known = known || g != "" && g == name
		}
		if !known {
			return fmt.Errorf("$%s names no group of match (write ${1}x for group 1 followed by x)", name)
		}
	}
	return nil
}

// replacement is what a replace rule does to one header field: delete it
// (name "") or put name: value in its place.
type replacement struct {
	name, value string
}

// matchReplace finds the fields a replace rule rewrites: every field its
// match matches, as a header rule's match reads them (the value unfolded,
// and again with RFC 2047 words decoded; "Name: value" without header),
// except a field an earlier replace rule took: as in Postfix, where the
// first pattern that matches a line decides for it. $n references are
// expanded from the form that matched. The fields are pending in s until
// the rule's other conditions hold (see scope.commitReplace).
func matchReplace(r *rule, s *scope) (string, bool) {
	var first string
	n := 0
	for i, h := range s.msg.Headers {
		if _, taken := s.replaced[i]; taken {
			continue
		}
		if r.header != "" && !strings.EqualFold(h.Name, r.header) {
			continue
		}
		raw := unfold(h.Value)
		subject := raw
		if r.header == "" {
			subject = h.Name + ": " + raw
		}
		m := r.match.FindStringSubmatchIndex(subject)
		if m == nil {
			dec := decodeWords(raw)
			if dec == raw {
				continue
			}
			if subject = dec; r.header == "" {
				subject = h.Name + ": " + dec
			}
			if m = r.match.FindStringSubmatchIndex(subject); m == nil {
				continue
			}
		}
		if n == 0 {
			first = fmt.Sprintf("%s %q matches %s", h.Name, clip(subject), r.match)
		}
		n++
		s.pending = append(s.pending, pendingReplace{i, r.replacement(subject, raw, m)})
	}
	switch {
	case n == 0:
		return "", false
	case n > 1:
		first += fmt.Sprintf(" (and %d more fields)", n-1)
	}
	return first, true
}

// replacement is r's field for a match m of subject: the value's $n
// references expanded. A line break or NUL in what was copied is dropped,
// as the core would refuse the field. Non-ASCII words are encoded (RFC
// 2047 §4, UTF-8) unless the field as received already held raw 8-bit
// text (raw), so that a message without SMTPUTF8 does not gain any; the
// words alone, as RFC 2047 §5 allows encoded words only where they stand
// for text, never over an address (From: Jörg <joerg@example.org>). The
// value is folded (foldValue): the field was read unfolded, and one line
// may not exceed 998 characters (RFC 5322 §2.1.1).
func (r *rule) replacement(subject, raw string, m []int) replacement {
	if r.replaceName == "" {
		return replacement{}
	}
	v := string(r.match.ExpandString(nil, r.replaceValue, subject, m))
	v = strings.Map(func(c rune) rune {
		if c == '\r' || c == '\n' || c == 0 {
			return -1
		}
		return c
	}, v)
	if envelope.IsASCII(raw) {
		v = encodeWords(v)
	}
	return replacement{name: r.replaceName, value: foldValue(r.replaceName, v)}
}

// isWSP reports whether c is white space within a line (RFC 5234 WSP).
func isWSP(c byte) bool { return c == ' ' || c == '\t' }

// encodeWords encodes each run of non-ASCII words of v as RFC 2047 Q
// encoded words, the white space between the run's words with them (RFC
// 2047 §6.2: white space between encoded words is not text), and leaves
// ASCII words and the space around them as written.
func encodeWords(v string) string {
	if envelope.IsASCII(v) {
		return v
	}
	var b strings.Builder
	run := -1 // start of the run of non-ASCII words being gathered
	end := 0  // end of the run's last word
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && !isWSP(v[j]) {
			j++
		}
		if j > i && !envelope.IsASCII(v[i:j]) {
			if run < 0 {
				run = i
			}
			end = j
		} else if j > i {
			if run >= 0 {
				b.WriteString(mime.QEncoding.Encode("utf-8", v[run:end]))
				b.WriteString(v[end:i])
				run = -1
			}
			b.WriteString(v[i:j])
		}
		k := j
		for k < len(v) && isWSP(v[k]) {
			k++
		}
		if run < 0 {
			b.WriteString(v[j:k])
		}
		i = k
	}
	if run >= 0 {
		b.WriteString(mime.QEncoding.Encode("utf-8", v[run:end]))
		b.WriteString(v[end:])
	}
	return b.String()
}

// foldLine is the line length foldValue keeps to where white space
// allows: RFC 5322 §2.1.1's 78, within RFC 2047 §2's 76 for lines of
// encoded words but for the field name.
const foldLine = 78

// foldValue folds v, the value of a field called name, before white space
// where a line would pass foldLine: unfolding (RFC 5322 §2.2.3) gives v
// back. A fold is made only before white space followed by more text, as
// the core refuses a line of white space alone; a word longer than a line
// stays whole.
func foldValue(name, v string) string {
	var b strings.Builder
	col := len(name) + len(": ")
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && isWSP(v[j]) {
			j++
		}
		k := j
		for k < len(v) && !isWSP(v[k]) {
			k++
		}
		if i > 0 && j > i && k > j && col+k-i > foldLine {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteString(v[i:k])
		col += k - i
		i = k
	}
	return b.String()
}

// pendingReplace is a field a replace rule matched, before the rule's
// other conditions are known to hold.
type pendingReplace struct {
	index int
	repl  replacement
}

// commitReplace keeps the fields of a replace rule whose conditions all
// held (ok), or forgets them.
func (s *scope) commitReplace(ok bool) {
	if ok {
		if s.replaced == nil {
			s.replaced = map[int]replacement{}
		}
		for _, p := range s.pending {
			s.replaced[p.index] = p.repl
		}
	}
	s.pending = nil
}

// replaceEdits turns the fields replace rules took into the pipeline's
// header edits, for the message as the stage saw it: a field whose name
// stays (spelt alike) and whose value is not empty is changed in place
// (ChangeHeader: an empty value would delete it, milter semantics); any
// other is deleted and the new field inserted at its index; a deleted
// one is deleted. The edits go from the last field up: the core applies
// them in order, and an edit changes no field above it, so each index
// and occurrence is the one the stage saw. A field replaced by itself is
// left alone, its bytes as received kept (DKIM signs them).
func replaceEdits(hs []sdk.Header, replaced map[int]replacement) []sdk.Edit {
	idx := make([]int, 0, len(replaced))
	for i := range replaced {
		idx = append(idx, i)
	}
	sort.Sort(sort.Reverse(sort.IntSlice(idx)))
	var edits []sdk.Edit
	for _, i := range idx {
		h, to := hs[i], replaced[i]
		if to.name == h.Name && to.value == h.Value {
			continue
		}
		occ := 0
		for _, o := range hs[:i+1] {
			if strings.EqualFold(o.Name, h.Name) {
				occ++
			}
		}
		switch {
		case to.name == h.Name && to.value != "":
			edits = append(edits, sdk.ChangeHeader{Name: h.Name, Occurrence: occ, Value: to.value})
		case to.name == "":
			edits = append(edits, sdk.DeleteHeader{Name: h.Name, Occurrence: occ})
		default:
			edits = append(edits, sdk.DeleteHeader{Name: h.Name, Occurrence: occ},
				sdk.InsertHeader{Index: i, Name: to.name, Value: to.value})
		}
	}
	return edits
}
