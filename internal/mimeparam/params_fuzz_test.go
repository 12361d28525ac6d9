package mimeparam

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse holds the lenient reader to two properties over hostile
// header values: a parameter written by mime.FormatMediaType (quoted, or
// RFC 2231 encoded when not ASCII) reads back as it was written, next to
// junk parameters before and after it; and where the strict
// mime.ParseMediaType accepts a value without RFC 2231 keys or quoted
// pairs (which it reads differently, see params.go), every parameter it
// finds Parse finds with the same value.
func FuzzParse(f *testing.F) {
	for _, s := range []struct{ v, name, val string }{
		{`multipart/mixed; boundary="b1"`, "boundary", "b1"},
		{`attachment; filename*=iso-8859-1''factur%E9.exe; filename="x.txt"`, "filename", "a b.exe"},
		{`text/plain; charset=utf-8; junk; format=flowed`, "name", "café.pdf"},
		{`attachment; filename*0*=utf-8''a%20; filename*1=b.exe`, "filename", `quo"te\d`},
		{`x; name = "unterminated`, "title", "\x00;=\"'%"},
		{`x; a="\"q\"";b=c`, "a", ""},
		{`inline; x name=a.exe`, "x", "\xff\xfe"},
	} {
		f.Add(s.v, s.name, s.val)
	}
	f.Fuzz(func(t *testing.T, v, name, val string) {
		p := Parse(v) // any input: no panic
		for _, k := range []string{"boundary", "filename", "name", "charset"} {
			_ = p.All(k)
		}

		if mt, params, err := mime.ParseMediaType(v); err == nil && mt != "" &&
			!strings.ContainsAny(v, `*\`) {
			for k, want := range params {
				if got := p.Get(k); got != want {
					t.Errorf("Parse(%q).Get(%q) = %q, mime.ParseMediaType read %q", v, k, got, want)
				}
			}
		}

		name = strings.ToLower(name)
		if val == "" || !isToken(name) || strings.Contains(name, "*") {
			return
		}
		written := mime.FormatMediaType("application/octet-stream", map[string]string{name: val})
		if written == "" {
			return // a value FormatMediaType cannot write (a control octet)
		}
		// Junk before and after must not change what the parameter reads as.
		in := strings.Replace(written, ";", "; junk; ", 1) + "; other=x"
		if got := Parse(in).Get(name); got != val && !(name == "other" || name == "junk") {
			t.Errorf("Parse(%q).Get(%q) = %q, want %q", in, name, got, val)
		}
		if utf8.ValidString(val) && !utf8.ValidString(Parse(in).Get(name)) {
			t.Errorf("Parse(%q).Get(%q) is not UTF-8", in, name)
		}
	})
}

// isToken reports whether s is an RFC 2045 §5.1 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
