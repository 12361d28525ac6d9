package mailhdr

import "testing"

func TestField(t *testing.T) {
	for _, tc := range []struct {
		in               string
		end, name, colon int
		ok               bool
	}{
		{"Subject: hi\r\nFrom: a\r\n", 13, 7, 7, true},
		{"Subject: hi\r\n folded\r\n\tagain\r\nFrom: a\r\n", 30, 7, 7, true},
		{"Subject: no line end", 20, 7, 7, true},
		{"X:\n", 3, 1, 1, true},
		// RFC 5322 §4.5 obs-optional: white space before the colon.
		{"Subject :  spaced name\r\n", 24, 7, 8, true},
		{"Subject\t: tab\r\n", 15, 7, 8, true},
		{"line 00001 of a report\r\n", 24, 0, -1, false},
		{": empty name\r\n", 14, 0, 0, false},
		{" : blank name\r\n", 15, 0, 1, false},
		{"Bad Name: x\r\n", 13, 8, 8, false},
		{"Ctl\x01Name: x\r\n", 13, 8, 8, false},
	} {
		f, ok := Field([]byte(tc.in))
		if f.End != tc.end || (ok && f.Name != tc.name) || f.Colon != tc.colon || ok != tc.ok {
			t.Errorf("Field(%q) = %+v, %v; want end %d, name %d, colon %d, %v", tc.in, f, ok, tc.end, tc.name, tc.colon, tc.ok)
		}
	}
}

func TestBlankLine(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int
		ok bool
	}{{"\r\nbody", 2, true}, {"\nbody", 1, true}, {"\rbody", 0, false}, {"", 0, false}, {"X: y\r\n", 0, false}} {
		if n, ok := BlankLine([]byte(tc.in)); n != tc.n || ok != tc.ok {
			t.Errorf("BlankLine(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}
