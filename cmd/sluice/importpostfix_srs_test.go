package main

import (
	"strings"
	"testing"
)

// postsrsd's tables, as sender_canonical_maps and
// recipient_canonical_maps (postsrsd 1's TCP tables, postsrsd 2's
// socketmap), are listed with the route stage's SRS, not as tables to
// copy by hand.
func TestImportPostfixPostsrsd(t *testing.T) {
	for _, mainCF := range []string{
		"sender_canonical_maps = tcp:127.0.0.1:10001\nsender_canonical_classes = envelope_sender\n" +
			"recipient_canonical_maps = tcp:127.0.0.1:10002\nrecipient_canonical_classes = envelope_recipient, header_recipient\n",
		"sender_canonical_maps = socketmap:unix:srs:forward\nrecipient_canonical_maps = socketmap:unix:srs:reverse\n",
	} {
		dir := writePostfix(t, "postfix", map[string]string{"main.cf": "myhostname = mx.example.org\n" + mainCF})
		out, err := importPostfix(dir, "host")
		if err != nil {
			t.Fatal(err)
		}
		for _, param := range []string{"sender_canonical_maps", "recipient_canonical_maps"} {
			i := strings.Index(out, "#   "+param+" = ")
			if i < 0 {
				t.Fatalf("%s not listed:\n%s", param, out)
			}
			// The parameter's line, then the reason's.
			lines := strings.SplitN(out[i:], "\n", 3)
			if why := lines[1]; !strings.Contains(why, "postsrsd (SRS): the route stage's [stage.config.srs]") {
				t.Errorf("%s listed as\n%s\n%s", param, lines[0], why)
			}
		}
	}
}
