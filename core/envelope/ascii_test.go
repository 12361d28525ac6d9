package envelope

import "testing"

func TestIsASCII(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{{"", true}, {"user@example.com", true}, {"\x7f", true}, {"\x80", false}, {"usér@example.com", false}, {"user@例え.jp", false}} {
		if got := IsASCII(c.s); got != c.want {
			t.Errorf("IsASCII(%q) = %v, want %v", c.s, got, c.want)
		}
		if got := IsASCII([]byte(c.s)); got != c.want {
			t.Errorf("IsASCII([]byte(%q)) = %v, want %v", c.s, got, c.want)
		}
	}
	if !AllASCII(nil) || !AllASCII([]string{"a@b", "c@d"}) || AllASCII([]string{"a@b", "é@d"}) {
		t.Error("AllASCII is wrong")
	}
}
