package filter

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/internal/pfaccess"
	"github.com/sluice-mta/sluice/internal/tablefile"
)

// patternTable is a cidr, regexp or pcre table: its rules tried in order,
// the first that matches giving the value (cidr_table(5),
// regexp_table(5), pcre_table(5)).
type patternTable []patternRule

func (t patternTable) indexed() bool { return false }

func (t patternTable) find(key string) (accessEntry, bool) {
	for i := range t {
		r := &t[i]
		groups, ok := r.test(key)
		if !ok {
			continue
		}
		if r.isIf {
			if e, ok := r.body.find(key); ok {
				return e, true
			}
			continue
		}
		return r.entry(groups), true
	}
	return accessEntry{}, false
}

// patternRule is one rule of a pattern table, or an if..endif block.
type patternRule struct {
	n    int
	text string // the pattern as written
	// A cidr rule's network, or a regexp rule's expression and, with the
	// old "/re1/!/re2/" form, the second one that must not match; neg
	// inverts the first ("!/re/", "!192.0.2.0/24"), neg2 the second.
	prefix    netip.Prefix
	re, re2   *regexp.Regexp
	neg, neg2 bool

	isIf bool
	body patternTable // an if's rules

	value accessValue // the value read, when it has no $n
	tmpl  []tmplPart  // the value with $n substitutions, when it has
	raw   string
}

// test reports whether key matches the rule's pattern; groups are a
// regular expression's submatches.
func (r *patternRule) test(key string) (groups []string, ok bool) {
	if r.re == nil {
		a, err := netip.ParseAddr(key)
		if err != nil {
			// Not an address: a cidr table finds nothing, negated or not.
			return nil, false
		}
		a = a.Unmap()
		if a.Is4() != r.prefix.Addr().Is4() {
			// A rule is of one address family and is not asked about the
			// other's addresses, "!" or not, as Postfix's
			// cidr_match_execute skips it: "!2001:db8::/32 REJECT" is
			// no rule about IPv4 clients.
			return nil, false
		}
		return nil, r.prefix.Contains(a) != r.neg
	}
	if r.neg {
		ok = !r.re.MatchString(key)
	} else if groups = r.re.FindStringSubmatch(key); groups != nil {
		ok = true
	}
	if ok && r.re2 != nil {
		ok = r.re2.MatchString(key) != r.neg2
	}
	return groups, ok
}

// entry is the rule's value for a match with groups.
func (r *patternRule) entry(groups []string) accessEntry {
	e := accessEntry{key: r.text, line: r.n, value: r.value, raw: r.raw}
	if r.tmpl != nil {
		// Checked at start with stand-in text; a match's own text makes
		// another value, read now.
		e.raw = expandTmpl(r.tmpl, groups)
		e.value, e.err = parseAccessValue(e.raw)
	}
	return e
}

// tmplPart is a literal, or a $n reference when ref > 0.
type tmplPart struct {
	lit string
	ref int
}

// parseTmpl reads $1, ${1}, $(1) and $$ in a regexp table's value, as
// Postfix's mac_parse does; another $name is an error.
func parseTmpl(v string) ([]tmplPart, int, error) {
	var parts []tmplPart
	var lit strings.Builder
	maxRef := 0
	for i := 0; i < len(v); i++ {
		if v[i] != '$' || i+1 == len(v) {
			lit.WriteByte(v[i])
			continue
		}
		i++
		var name string
		switch c := v[i]; {
		case c == '$':
			lit.WriteByte('$')
			continue
		case c == '{' || c == '(':
			end := strings.IndexByte(v[i:], map[byte]byte{'{': '}', '(': ')'}[c])
			if end < 0 {
				return nil, 0, fmt.Errorf("unterminated $%c in %q", c, v)
			}
			name, i = v[i+1:i+end], i+end
		case c >= '0' && c <= '9':
			j := i
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			name, i = v[i:j], j-1
		default:
			if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return nil, 0, fmt.Errorf("$%c...: only $number substitutions are allowed in a table's value", c)
			}
			lit.WriteByte('$')
			lit.WriteByte(c)
			continue
		}
		n, err := strconv.Atoi(name)
		if err != nil || n < 1 {
			return nil, 0, fmt.Errorf("$%s: want a number from 1 (the pattern's parenthesized groups)", name)
		}
		if lit.Len() > 0 {
			parts = append(parts, tmplPart{lit: lit.String()})
			lit.Reset()
		}
		parts = append(parts, tmplPart{ref: n})
		maxRef = max(maxRef, n)
	}
	if lit.Len() > 0 || len(parts) == 0 {
		parts = append(parts, tmplPart{lit: lit.String()})
	}
	return parts, maxRef, nil
}

func expandTmpl(parts []tmplPart, groups []string) string {
	var b strings.Builder
	for _, p := range parts {
		if p.ref == 0 {
			b.WriteString(p.lit)
		} else if p.ref < len(groups) {
			b.WriteString(groups[p.ref])
		}
	}
	return b.String()
}

// readPatterns reads a regexp or pcre table. Each pattern is compiled as
// Go's RE2: what RE2 does not have (back-references, look-around) is an
// error naming the line. A regexp: table is POSIX, whose matches are the
// leftmost longest, and so are its RE2 matches here.
func readPatterns(path, kind string, lines []tablefile.Line) (accessMap, error) {
	root := patternTable{}
	stack := []*patternTable{&root}
	var opened []int // the lines of the open ifs
	for _, l := range lines {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, l.N, fmt.Sprintf(format, a...))
		}
		top := stack[len(stack)-1]
		p := l.Text
		switch {
		case isWord(p, "if"):
			r, rest, err := parsePattern(kind, strings.TrimLeft(p[2:], " \t"))
			if err != nil {
				return nil, fail("%v", err)
			}
			if rest != "" {
				return nil, fail("text after an if's pattern: %q (a line inside if..endif must not start with white space, which continues the line before)", rest)
			}
			r.n, r.isIf = l.N, true
			*top = append(*top, r)
			stack = append(stack, &(*top)[len(*top)-1].body)
			opened = append(opened, l.N)
			continue
		case isWord(p, "endif"):
			if len(stack) == 1 {
				return nil, fail("endif without if")
			}
			if strings.TrimSpace(p[5:]) != "" {
				return nil, fail("text after endif")
			}
			stack, opened = stack[:len(stack)-1], opened[:len(opened)-1]
			continue
		case p[0] >= 'a' && p[0] <= 'z' || p[0] >= 'A' && p[0] <= 'Z' || p[0] >= '0' && p[0] <= '9':
			return nil, fail("want /pattern/ result, if /pattern/ or endif, got %q", p)
		}
		r, value, err := parsePattern(kind, p)
		if err != nil {
			return nil, fail("%v", err)
		}
		if value == "" {
			return nil, fail("no value after the pattern (an access table's value is its action: OK, REJECT, ...)")
		}
		r.n, r.raw = l.N, value
		tmpl, maxRef, err := parseTmpl(value)
		if err != nil {
			return nil, fail("%v", err)
		}
		switch {
		case maxRef == 0:
			if r.value, err = parseAccessValue(tmpl[0].lit); err != nil {
				return nil, fail("%v", err)
			}
			r.raw = tmpl[0].lit
		case r.neg:
			return nil, fail("$%d in the value of a negated pattern, which has no groups", maxRef)
		case maxRef > r.re.NumSubexp():
			return nil, fail("$%d: the pattern has %d groups", maxRef, r.re.NumSubexp())
		default:
			// Checked with stand-in text: the verb and its syntax.
			stand := make([]string, maxRef+1)
			for i := range stand {
				stand[i] = "x"
			}
			if _, err := parseAccessValue(expandTmpl(tmpl, stand)); err != nil {
				return nil, fail("%v", err)
			}
			r.tmpl = tmpl
		}
		*top = append(*top, r)
	}
	if len(opened) > 0 {
		return nil, fmt.Errorf("%s:%d: if without endif", path, opened[len(opened)-1])
	}
	return root, nil
}

// isWord reports whether line starts with the keyword w (any case) and
// then white space or its end.
func isWord(line, w string) bool {
	return len(line) >= len(w) && strings.EqualFold(line[:len(w)], w) &&
		(len(line) == len(w) || line[len(w)] == ' ' || line[len(w)] == '\t')
}

// parsePattern reads "[!]/re/flags[!/re/flags]" off the front of p and
// compiles it; rest is what follows, white space trimmed.
func parsePattern(kind, p string) (r patternRule, rest string, err error) {
	orig := p
	re, neg, p, err := onePattern(kind, p)
	if err != nil {
		return r, "", err
	}
	r.re, r.neg = re, neg
	if kind == "regexp" && strings.HasPrefix(p, "!") {
		// regexp_table(5)'s older "/re1/!/re2/": re1 matches, re2 does not.
		re2, neg2, after, err := onePattern(kind, p[1:])
		if err != nil {
			return r, "", err
		}
		r.re2, r.neg2, p = re2, !neg2, after
	}
	if p != "" && p[0] != ' ' && p[0] != '\t' {
		return r, "", fmt.Errorf("want white space after the pattern's flags, got %q", p)
	}
	r.text = orig[:len(orig)-len(p)]
	return r, strings.TrimLeft(p, " \t"), nil
}

// onePattern reads one "[!]/re/flags": the delimiter is the first
// character after any "!", a backslash escaping it inside.
func onePattern(kind, p string) (re *regexp.Regexp, neg bool, rest string, err error) {
	for strings.HasPrefix(p, "!") {
		neg, p = !neg, p[1:]
	}
	p = strings.TrimLeft(p, " \t")
	if p == "" {
		return nil, false, "", fmt.Errorf("no pattern")
	}
	delim := p[0]
	end := -1
	for i := 1; i < len(p); i++ {
		if p[i] == '\\' {
			i++
			continue
		}
		if p[i] == delim {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, false, "", fmt.Errorf("no closing %q", delim)
	}
	expr, p := p[1:end], p[end+1:]
	i := strings.IndexAny(p, " \t!")
	if i < 0 {
		i = len(p)
	}
	flags, p := p[:i], p[i:]
	re, err = compileTablePattern(kind, expr, flags)
	return re, neg, p, err
}

// compileTablePattern compiles a regexp or pcre table's expression with
// its flags, each of which toggles an option from its default. regexp
// (POSIX): i (ignore case, on), m (multi-line, off), x (extended syntax,
// on: a basic expression is refused). pcre: i (on), m (off), s (dot
// matches newline, on), U (ungreedy, off), A (anchored at the start,
// off), E and X (no difference to RE2); x (white space and comments in
// the pattern) is refused.
func compileTablePattern(kind, expr, flags string) (*regexp.Regexp, error) {
	icase, multi, dotall, ungreedy, anchored := true, false, kind == "pcre", false, false
	for _, f := range flags {
		switch {
		case f == 'i':
			icase = !icase
		case f == 'm':
			multi = !multi
		case f == 'x' && kind == "regexp":
			return nil, fmt.Errorf("flag x: basic regular expressions (POSIX BRE) are not supported: write an extended one")
		case f == 'x':
			return nil, fmt.Errorf("flag x: white space and comments in a pattern are not supported: write the pattern without them")
		case kind == "pcre" && f == 's':
			dotall = !dotall
		case kind == "pcre" && f == 'U':
			ungreedy = !ungreedy
		case kind == "pcre" && f == 'A':
			anchored = !anchored
		case kind == "pcre" && (f == 'E' || f == 'X'):
			// $ matches at the end only, and an unknown escape is an
			// error: so RE2 behaves already.
		default:
			return nil, fmt.Errorf("unknown flag %q", f)
		}
	}
	var opts string
	for _, o := range []struct {
		on bool
		c  string
	}{{icase, "i"}, {multi, "m"}, {dotall, "s"}, {ungreedy, "U"}} {
		if o.on {
			opts += o.c
		}
	}
	src := expr
	if anchored {
		src = `\A(?:` + src + `)`
	}
	if opts != "" {
		src = "(?" + opts + ")" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("pattern %q (RE2 syntax): %v", expr, err)
	}
	if kind == "regexp" {
		re.Longest()
	}
	return re, nil
}

// readCIDR reads a cidr table: "network/prefix value" or "address value",
// "!" before the pattern to match what is outside it, and if..endif
// blocks (cidr_table(5)).
func readCIDR(path string, lines []tablefile.Line) (accessMap, error) {
	root := patternTable{}
	stack := []*patternTable{&root}
	var opened []int
	for _, l := range lines {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, l.N, fmt.Sprintf(format, a...))
		}
		top := stack[len(stack)-1]
		word, rest := pfaccess.SplitWord(l.Text)
		switch strings.ToLower(word) {
		case "if":
			pat, extra := pfaccess.SplitWord(rest)
			if extra != "" {
				return nil, fail("text after an if's pattern: %q (a line inside if..endif must not start with white space, which continues the line before)", extra)
			}
			r, err := cidrPattern(pat)
			if err != nil {
				return nil, fail("%v", err)
			}
			r.n, r.isIf = l.N, true
			*top = append(*top, r)
			stack = append(stack, &(*top)[len(*top)-1].body)
			opened = append(opened, l.N)
			continue
		case "endif":
			if len(stack) == 1 {
				return nil, fail("endif without if")
			}
			if rest != "" {
				return nil, fail("text after endif")
			}
			stack, opened = stack[:len(stack)-1], opened[:len(opened)-1]
			continue
		}
		r, err := cidrPattern(word)
		if err != nil {
			return nil, fail("%v", err)
		}
		if rest == "" {
			return nil, fail("no value after %s (an access table's value is its action: OK, REJECT, ...)", word)
		}
		if r.value, err = parseAccessValue(rest); err != nil {
			return nil, fail("%v", err)
		}
		r.n, r.raw = l.N, rest
		*top = append(*top, r)
	}
	if len(opened) > 0 {
		return nil, fmt.Errorf("%s:%d: if without endif", path, opened[len(opened)-1])
	}
	return root, nil
}

// cidrPattern reads "[!]address[/prefix]", the address in [] or not
// ("[2001:db8::]/32" and "[2001:db8::/32]" alike, as cidr_table(5)
// takes both). Host bits set under the prefix are an error, as in
// Postfix, since the writer meant another network or another length.
func cidrPattern(p string) (patternRule, error) {
	r := patternRule{text: p}
	for strings.HasPrefix(p, "!") {
		r.neg, p = !r.neg, p[1:]
	}
	if strings.HasPrefix(p, "[") {
		end := strings.IndexByte(p, ']')
		if end < 0 || end+1 < len(p) && p[end+1] != '/' {
			return r, fmt.Errorf("bad address pattern %q (want [address]/prefix or [address/prefix])", r.text)
		}
		p = p[1:end] + p[end+1:]
	}
	addr, bits, hasBits := strings.Cut(p, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return r, fmt.Errorf("bad address pattern %q (want network/prefix or an address)", r.text)
	}
	a = a.Unmap()
	n := a.BitLen()
	if hasBits {
		if n, err = strconv.Atoi(bits); err != nil || n < 0 || n > a.BitLen() {
			return r, fmt.Errorf("bad prefix length in %q", r.text)
		}
	}
	r.prefix = netip.PrefixFrom(a, n)
	if m := r.prefix.Masked(); m.Addr() != a {
		return r, fmt.Errorf("%q has host bits set: perhaps %s", r.text, m)
	}
	return r, nil
}
