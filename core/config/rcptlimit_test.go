package config

import (
	"strconv"
	"strings"
	"testing"
)

// [delivery] recipients_per_transaction decodes (a field of an embedded
// struct), is 50 by default as Postfix's default_destination_recipient_
// limit, takes -1 for no limit, and refuses 0 (Postfix's "no limit",
// which would read here as the default) and anything below -1 at its
// line.
func TestRecipientsPerTransaction(t *testing.T) {
	c, err := Parse("f.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Delivery.RecipientsPerTransaction; n != 50 {
		t.Errorf("default %d, want 50", n)
	}
	for _, n := range []string{"1", "100", "-1"} {
		c, err := Parse("f.toml", []byte(minimal+"[delivery]\nrecipients_per_transaction = "+n+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if got := c.Delivery.RecipientsPerTransaction; strconv.Itoa(got) != n {
			t.Errorf("%s: got %d", n, got)
		}
	}
	for src, want := range map[string]string{
		"recipients_per_transaction = 0":    "f.toml:5: recipients_per_transaction = 0: want a positive number, or -1 for no limit",
		"recipients_per_transaction = -2":   "f.toml:5: recipients_per_transaction must be positive, or -1 for no limit, not -2",
		`recipients_per_transaction = "50"`: "f.toml:5:",
	} {
		_, err := Parse("f.toml", []byte(minimal+"[delivery]\n"+src+"\n"))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want prefix %q", src, err, want)
		}
	}
}
