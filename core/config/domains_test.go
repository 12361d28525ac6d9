package config

import (
	"strings"
	"testing"
)

// A Unicode domain in local_domains is also its A-label, the form a peer
// without SMTPUTF8 (or Sluice's own downgrade) sends, and the reverse.
func TestIsLocalDomainALabel(t *testing.T) {
	c, err := Parse("f.toml", []byte("local_domains = [\"café.test\", \"xn--mnchen-3ya.test\"]\n"+minimal))
	if err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{
		"café.test": true, "CAFÉ.test": true, "xn--caf-dma.test": true, "XN--CAF-DMA.TEST.": true,
		"münchen.test": true, "xn--mnchen-3ya.test": true,
		"cafe.test": false, "xn--caf-dma.example": false,
	} {
		if got := c.IsLocalDomain(d); got != want {
			t.Errorf("IsLocalDomain(%q) = %v, want %v", d, got, want)
		}
	}
}

// jitter = 0, written, turns jitter off; left out it is 0.1.
func TestJitterZeroWritten(t *testing.T) {
	for src, want := range map[string]float64{"": 0.1, "[delivery]\njitter = 0\n": 0, "[delivery]\njitter = 0.0\n": 0, "[delivery]\njitter = 0.3\n": 0.3} {
		c, err := Parse("f.toml", []byte(minimal+src))
		if err != nil {
			t.Fatal(err)
		}
		if c.Delivery.Jitter != want {
			t.Errorf("%q: jitter %v, want %v", src, c.Delivery.Jitter, want)
		}
	}
}

// relay = "smtp:2525" is port 2525 of the host named smtp (a container's
// name), as before relay took routes; "smtp:HOST:PORT…" is a route.
func TestRelayIsRoute(t *testing.T) {
	for relay, want := range map[string]bool{
		"smtp:2525": false, "smtp.example.org:587": false, "[::1]:25": false,
		"smtp:smtp.example.org:587": true, "smtp:[::1]:25?tls=required": true, "smtp:relay:587?authfile=a": true,
		// Postfix's smtp:[host] and smtp:host, on [delivery] port.
		"smtp:[smtp.example.org]": true, "smtp:smtp.example.org?tls=encrypt": true, "smtp:[::1]": true,
		"[smtp.example.org]": false, "smtp.example.org": false,
	} {
		if got := RelayIsRoute(relay); got != want {
			t.Errorf("RelayIsRoute(%q) = %v, want %v", relay, got, want)
		}
		if _, err := Parse("f.toml", []byte(minimal+"[delivery]\nrelay = \""+relay+"\"\n")); err != nil {
			t.Errorf("relay = %q: %v", relay, err)
		}
	}
}

// A local_domains entry holding a comma, white space or a control
// character is refused at its key: plugins get the list comma-separated,
// so "a.example,b.example" would be two domains there and none here.
func TestLocalDomainsBadCharacters(t *testing.T) {
	for _, d := range []string{"a.example,b.example", "a.example b.example", "a.example\\tb", "a.example;b", "user@a.example", "a/b", "a\\u007fb"} {
		_, err := Parse("f.toml", []byte("local_domains = [\""+d+"\"]\n"+minimal))
		if err == nil || !strings.Contains(err.Error(), "bad domain") {
			t.Errorf("local_domains = [%q]: err = %v, want bad domain", d, err)
		}
	}
	if _, err := Parse("f.toml", []byte("local_domains = [\"a-b.example\", \"xn--caf-dma.test\", \"café.test\"]\n"+minimal)); err != nil {
		t.Errorf("good domains refused: %v", err)
	}
}
