package main

import (
	"strings"
	"testing"
)

// postscreen's pregreet settings are not carried (greet_pause always
// drops and keeps no cache), but the draft points at greet_pause for
// each, and at it for a postscreen smtp service.
func TestImportPostfixPostscreenPointsAtGreetPause(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\npostscreen_greet_wait = 3s\npostscreen_greet_action = enforce\n" +
			"postscreen_greet_banner = Welcome\npostscreen_greet_ttl = 1d\n",
		"master.cf": "smtp inet n - y - 1 postscreen\nsmtpd pass - - y - - smtpd\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "\ngreet_pause") {
		t.Errorf("greet_pause carried over:\n%s", out)
	}
	for _, want := range []string{
		"#   postscreen_greet_wait = 3s\n#       a listener's greet_pause",
		"#   postscreen_greet_action = enforce\n#       a listener's greet_pause drops an early talker",
		"#   postscreen_greet_banner = Welcome\n#       a listener's greet_pause_banner, by hand",
		"#   postscreen_greet_ttl = 1d\n#       none: greet_pause keeps no cache",
		"smtp postscreen\n#       its pregreet test is a listener's greet_pause",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("draft lacks %q:\n%s", want, out)
		}
	}
}
