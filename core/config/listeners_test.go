package config

import (
	"strings"
	"testing"
	"time"
)

func TestListenAddresses(t *testing.T) {
	second := func(addr string) string { return minimal + "[[listener]]\nname = \"b\"\nlisten = \"" + addr + "\"\n" }
	admin := func(addr string) string { return minimal + "[admin]\nlisten = \"" + addr + "\"\n" }
	bad := []struct{ name, src, want string }{
		{"port out of range", second("127.0.0.1:99999"), "f.toml:6: bad listen address \"127.0.0.1:99999\": port"},
		{"negative port", second("127.0.0.1:-1"), "f.toml:6: bad listen address"},
		{"service name", second("127.0.0.1:smtpx"), "f.toml:6: bad listen address \"127.0.0.1:smtpx\": port"},
		{"numeric name not an IPv4 address", second("999.1.1.1:25"), "f.toml:6: bad listen address \"999.1.1.1:25\""},
		{"short numeric name", second("10.1.1:25"), "f.toml:6: bad listen address"},
		{"space in host", second("mx example:25"), "f.toml:6: bad listen address"},
		{"bad IPv6", second("[::g]:25"), "f.toml:6: bad listen address"},
		{"admin port", admin("127.0.0.1:80800"), "f.toml:5: bad admin listen address"},
		{"admin host", admin("300.0.0.1:8025"), "f.toml:5: bad admin listen address"},
		{"same address twice", second("127.0.0.1:2525"), "f.toml:6: listen address \"127.0.0.1:2525\" is already taken by listener \"listener1\""},
		{"wildcard over a listener", second(":2525"), "f.toml:6: listen address \":2525\" is already taken"},
		{"IPv4 wildcard over a listener", second("0.0.0.0:2525"), "f.toml:6: listen address"},
		{"IPv6 wildcard over a listener", second("[::]:2525"), "f.toml:6: listen address"},
		{"admin on a listener's address", admin("127.0.0.1:2525"), "f.toml:5: admin listen address \"127.0.0.1:2525\" is already taken by listener \"listener1\""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
	// Port 0 binds a fresh port each time, as the tests do.
	good := []string{
		second("127.0.0.1:2526"), second("[::1]:2525"), second("localhost:25"), second(":0"),
		second("mx.example.org:587"), second("10.0.0.1:2525"),
		"[[listener]]\nlisten = \"127.0.0.1:0\"\n[[listener]]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
		admin("127.0.0.1:8025"), admin("[::1]:8025"), admin("localhost:8025"),
	}
	for _, src := range good {
		if _, err := Parse("f.toml", []byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func TestHostnameAndMilterAddress(t *testing.T) {
	milter := func(m string) string { return minimal + "[[stage]]\nname = \"m\"\nmilter = \"" + m + "\"\n" }
	host := func(h string) string { return "hostname = \"" + h + "\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n" }
	bad := []struct{ name, src, want string }{
		{"hostname with spaces", host("bad host name"), "f.toml:1: hostname \"bad host name\" is not a valid domain name"},
		{"hostname with underscore", host("mx_1.example.org"), "f.toml:1: hostname"},
		{"hostname label starting with a hyphen", host("-mx.example.org"), "f.toml:1: hostname"},
		{"hostname with an empty label", host("mx..example.org"), "f.toml:1: hostname"},
		{"hostname a bad dotted quad", host("1.2.3.999"), "f.toml:1: hostname"},
		{"hostname an address", host("192.0.2.1"), "f.toml:1: hostname"},
		{"hostname too long label", host(strings.Repeat("a", 64) + ".example.org"), "f.toml:1: hostname"},
		{"tcp milter without port", milter("tcp:nohostport"), "f.toml:6: milter \"tcp:nohostport\" must be tcp:HOST:PORT"},
		{"tcp milter port 0", milter("tcp:127.0.0.1:0"), "f.toml:6: milter"},
		{"tcp milter bad host", milter("tcp:no host:8891"), "f.toml:6: milter"},
		{"milter bare port", milter("8891"), "f.toml:6: milter \"8891\""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(tc.src))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
	for _, src := range []string{
		host("mx.example.org"), host("localhost"), host("mx-1.EXAMPLE.org."),
		milter("tcp:127.0.0.1:8891"), milter("tcp:[::1]:8891"), milter("tcp:milter.local:8891"), milter("unix:/run/opendkim.sock"),
	} {
		if _, err := Parse("f.toml", []byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

// proxy_protocol's networks are checked as relay_networks' are, at their
// line; proxy_timeout defaults to Postfix's 5 s, wants proxy_protocol,
// and is positive when written.
func TestListenerProxyProtocol(t *testing.T) {
	listener := func(keys string) string {
		return "hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n" + keys
	}
	c, err := Parse("f.toml", []byte(listener("proxy_protocol = [\"10.0.0.5/32\", \"::1/128\", \"::ffff:192.0.2.0/120\"]\n")))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	var nets []string
	for _, p := range l.ProxyProtocol {
		nets = append(nets, p.String())
	}
	// An IPv4-mapped network is the IPv4 one, as connections report
	// their addresses unmapped.
	if got := strings.Join(nets, " "); got != "10.0.0.5/32 ::1/128 192.0.2.0/24" || l.ProxyTimeout.Duration != 5*time.Second {
		t.Errorf("proxy_protocol %s, proxy_timeout %v", got, l.ProxyTimeout)
	}
	c, err = Parse("f.toml", []byte(listener("proxy_protocol = [\"10.0.0.5\"]\nproxy_timeout = \"3s\"\n")))
	if err != nil || c.Listeners[0].ProxyTimeout.Duration != 3*time.Second {
		t.Errorf("proxy_timeout = \"3s\": %v", err)
	}
	for _, tc := range []struct{ name, keys, want string }{
		{"bad network", "proxy_protocol = [\"10.0.0.5/33\"]\n", `f.toml:4: listener.proxy_protocol: bad network "10.0.0.5/33": prefix length out of range`},
		{"host name", "\nproxy_protocol = [\"lb.example.org\"]\n", `f.toml:5: listener.proxy_protocol: bad network "lb.example.org"`},
		{"not a list", "proxy_protocol = \"10.0.0.5\"\n", "f.toml:4: listener.proxy_protocol: want an array"},
		{"bad timeout", "proxy_protocol = [\"10.0.0.5\"]\nproxy_timeout = \"5\"\n", "f.toml:5: listener.proxy_timeout: bad duration"},
		{"timeout alone", "proxy_timeout = \"5s\"\n", "f.toml:4: proxy_timeout needs proxy_protocol"},
		// Not read as the default: the operator may mean no limit.
		{"zero timeout", "proxy_protocol = [\"10.0.0.5\"]\nproxy_timeout = \"0s\"\n", `f.toml:5: proxy_timeout = "0s": want a positive duration`},
		{"negative timeout", "proxy_protocol = [\"10.0.0.5\"]\n\nproxy_timeout = \"-1s\"\n", `f.toml:6: listener.proxy_timeout: negative duration "-1s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(listener(tc.keys)))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// xclient_hosts' networks are checked as proxy_protocol's are, at their
// line; an address alone is its /32 or /128.
func TestListenerXClientHosts(t *testing.T) {
	listener := func(keys string) string {
		return "hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n" + keys
	}
	c, err := Parse("f.toml", []byte(listener("xclient_hosts = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]\n")))
	if err != nil {
		t.Fatal(err)
	}
	var nets []string
	for _, p := range c.Listeners[0].XClientHosts {
		nets = append(nets, p.String())
	}
	if got := strings.Join(nets, " "); got != "127.0.0.1/32 10.0.0.0/8 ::1/128" {
		t.Errorf("xclient_hosts %s", got)
	}
	for _, tc := range []struct{ name, keys, want string }{
		{"bad network", "\nxclient_hosts = [\"10.0.0.5/33\"]\n", `f.toml:5: listener.xclient_hosts: bad network "10.0.0.5/33": prefix length out of range`},
		{"host name", "xclient_hosts = [\"proxy.example.org\"]\n", `f.toml:4: listener.xclient_hosts: bad network "proxy.example.org"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(listener(tc.keys)))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}

// greet_pause is off by default and under 5m; greet_pause_skip is
// loopback unless written (as greylisting's skip_networks), an empty list
// sparing no one, and wants greet_pause.
func TestListenerGreetPause(t *testing.T) {
	listener := func(keys string) string {
		return "hostname = \"mx.example.org\"\n[[listener]]\nlisten = \"127.0.0.1:2525\"\n" + keys
	}
	skip := func(l Listener) string {
		var nets []string
		for _, p := range l.GreetPauseSkip {
			nets = append(nets, p.String())
		}
		return strings.Join(nets, " ")
	}
	c, err := Parse("f.toml", []byte(listener("")))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Listeners[0]; l.GreetPause.Duration != 0 || skip(l) != "127.0.0.0/8 ::1/128" {
		t.Errorf("default greet_pause %v, greet_pause_skip %q", l.GreetPause, skip(l))
	}
	c, err = Parse("f.toml", []byte(listener("greet_pause = \"3s\"\ngreet_pause_skip = [\"192.0.2.0/24\"]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if l := c.Listeners[0]; l.GreetPause.Duration != 3*time.Second || skip(l) != "192.0.2.0/24" {
		t.Errorf("greet_pause %v, greet_pause_skip %q", l.GreetPause, skip(l))
	}
	c, err = Parse("f.toml", []byte(listener("greet_pause = \"4m59s\"\ngreet_pause_skip = []\n")))
	if err != nil || skip(c.Listeners[0]) != "" {
		t.Errorf("greet_pause_skip = []: %v", err)
	}
	for _, tc := range []struct{ name, keys, want string }{
		{"negative", "\ngreet_pause = \"-3s\"\n", `f.toml:5: listener.greet_pause: negative duration "-3s"`},
		{"absurd", "greet_pause = \"5m\"\n", `f.toml:4: greet_pause = "5m0s": want less than 5m0s`},
		{"bad network", "greet_pause = \"3s\"\ngreet_pause_skip = [\"10.0.0.5/33\"]\n", `f.toml:5: listener.greet_pause_skip: bad network "10.0.0.5/33"`},
		{"skip alone", "greet_pause_skip = [\"192.0.2.0/24\"]\n", "f.toml:4: greet_pause_skip needs greet_pause"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.toml", []byte(listener(tc.keys)))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got %v, want prefix %q", err, tc.want)
			}
		})
	}
}
