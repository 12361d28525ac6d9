package config

import (
	"path/filepath"
	"testing"
)

// A listener's received is full or hide-client, full when left out; any
// other value, an explicit "" too, is refused at the key's line, as
// check-config reports it.
func TestListenerReceived(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	for _, v := range []string{`"hide"`, `""`, `"Hide-Client"`} {
		_, err := Parse(cfg, []byte(head+"received = "+v+"\n"))
		want := cfg + `:5: received = ` + v + `: want "full" or "hide-client"`
		if err == nil || err.Error() != want {
			t.Errorf("received = %s:\ngot  %v\nwant %s", v, err, want)
		}
	}
	for src, hides := range map[string]bool{
		head:                                  false,
		head + "received = \"full\"\n":        false,
		head + "received = \"hide-client\"\n": true,
	} {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := c.Listeners[0].Received.HidesClient(); got != hides {
			t.Errorf("%q: HidesClient() = %v, want %v", src, got, hides)
		}
	}
}

// received_auth_user is true or false, false when left out; Postfix's
// "yes" is refused at its line, as any value that is not a boolean.
func TestListenerReceivedAuthUser(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "f.toml")
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:2525\"\n"
	for v, kind := range map[string]string{`"yes"`: "a string", `1`: "an integer"} {
		_, err := Parse(cfg, []byte(head+"received_auth_user = "+v+"\n"))
		want := cfg + ":5: listener.received_auth_user: want true or false, not " + kind
		if err == nil || err.Error() != want {
			t.Errorf("received_auth_user = %s:\ngot  %v\nwant %s", v, err, want)
		}
	}
	for src, on := range map[string]bool{
		head:                                  false,
		head + "received_auth_user = false\n": false,
		head + "received_auth_user = true\n" + "received = \"hide-client\"\n": true,
	} {
		c, err := Parse(cfg, []byte(src))
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got := c.Listeners[0].ReceivedAuthUser; got != on {
			t.Errorf("%q: ReceivedAuthUser = %v, want %v", src, got, on)
		}
	}
}
