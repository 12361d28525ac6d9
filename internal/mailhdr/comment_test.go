package mailhdr

import "testing"

// TestCommentEnd: RFC 5322 §3.2.2 comments nest, a quoted-pair escapes a
// parenthesis or a backslash, and one left open ends nowhere.
func TestCommentEnd(t *testing.T) {
	for _, tc := range []struct {
		v    string
		i    int
		want int
	}{
		{"(a)", 0, 3},
		{"(a (b) c)x", 0, 9},
		{`(a \) b)`, 0, 8},
		{`(a \\) b)`, 0, 6},
		{"x (y) z", 2, 5},
		{"()", 0, 2},
		{"(unclosed", 0, -1},
		{"((a)", 0, -1},
		{`(a\`, 0, -1},
		{`(a\)`, 0, -1},
	} {
		if got := CommentEnd(tc.v, tc.i); got != tc.want {
			t.Errorf("CommentEnd(%q, %d) = %d, want %d", tc.v, tc.i, got, tc.want)
		}
	}
}
