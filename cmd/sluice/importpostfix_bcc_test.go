package main

import (
	"strings"
	"testing"
)

// always_bcc written empty is Postfix's default, no copy: nothing to
// carry, and nothing to list either (it was listed as a bare name to
// qualify with a domain).
func TestImportPostfixEmptyAlwaysBcc(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nalways_bcc =\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "always_bcc") {
		t.Errorf("an empty always_bcc shows in the draft:\n%s", out)
	}
}
