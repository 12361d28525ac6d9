package mailhdr

import "testing"

func TestField(t *testing.T) {
	for _, tc := range []struct {
		in         string
		end, colon int
		ok         bool
	}{
		{"Subject: hi\r\nFrom: a\r\n", 13, 7, true},
		{"Subject: hi\r\n folded\r\n\tagain\r\nFrom: a\r\n", 30, 7, true},
		{"Subject: no line end", 20, 7, true},
		{"X:\n", 3, 1, true},
		{"line 00001 of a report\r\n", 24, -1, false},
		{": empty name\r\n", 14, 0, false},
		{"Bad Name: x\r\n", 13, 8, false},
		{"Tab\tName: x\r\n", 13, 8, false},
	} {
		end, colon, ok := Field([]byte(tc.in))
		if end != tc.end || colon != tc.colon || ok != tc.ok {
			t.Errorf("Field(%q) = %d, %d, %v; want %d, %d, %v", tc.in, end, colon, ok, tc.end, tc.colon, tc.ok)
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
