package mimeparam

import "testing"

func TestToUTF8(t *testing.T) {
	for _, c := range []struct {
		cs, in string
		limit  int
		want   string
	}{
		{"ISO-8859-1", "caf\xe9", 100, "café"},
		{" Windows-1252 ", "\x93quoted\x94", 100, "\u201cquoted\u201d"},
		{"utf-8", "café", 100, "café"},
		{"", "caf\xe9", 100, "caf\xe9"},              // no charset: as it is
		{"x-unknown", "caf\xe9", 100, "caf\xe9"},     // nobody knows it: as it is
		{"iso-8859-1", "caf\xe9 au lait", 5, "café"}, // at most limit bytes out
	} {
		if got := string(ToUTF8(c.cs, []byte(c.in), c.limit)); got != c.want {
			t.Errorf("ToUTF8(%q, %q, %d) = %q, want %q", c.cs, c.in, c.limit, got, c.want)
		}
	}
}

func TestParamInLatin1(t *testing.T) {
	p := Parse(`attachment; filename*=iso-8859-1''factur%E9.exe`)
	if got := p.Get("filename"); got != "facturé.exe" {
		t.Errorf("filename = %q, want facturé.exe", got)
	}
}
