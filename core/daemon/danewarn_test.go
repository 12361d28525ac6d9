package daemon

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// The servers whose AD bit DANE should not trust: anything but a
// loopback address or localhost. The addresses are data: none is asked.
func TestNotLoopback(t *testing.T) {
	in := []string{
		"127.0.0.1:53", "127.0.0.53:53", "127.1.2.3:5353", "[::1]:53", "::1", "127.0.0.53",
		"localhost:53", "LOCALHOST.:53", "dns.localhost:53", "[::ffff:127.0.0.1]:53",
		"10.255.255.53:53", "192.0.2.53", "[2001:db8::53]:53", "fe80::1%eth0", "dns.example:53", "[::]:53", "0.0.0.0:53",
	}
	want := []string{"10.255.255.53:53", "192.0.2.53", "[2001:db8::53]:53", "fe80::1%eth0", "dns.example:53", "[::]:53", "0.0.0.0:53"}
	if got := notLoopback(in); !slices.Equal(got, want) {
		t.Errorf("notLoopback:\n got %q\nwant %q", got, want)
	}
}

func parseConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	c, err := config.Parse("sluice.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// DANE on anywhere ([delivery] dane, the relay's, a fallback relay's or
// a route rule's tls=dane or dane-only) with a [dns] server off
// loopback, or /etc/resolv.conf's when [dns] names none, is one warning
// naming where DANE is on, the servers and the fix; loopback servers or
// DANE off say nothing.
func TestDANEResolverWarnings(t *testing.T) {
	dir := t.TempDir()
	resolvConf := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolvConf, []byte("# generated\nsearch example\nnameserver 127.0.0.53\nnameserver 192.0.2.53\noptions edns0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const head = "hostname = \"mx.example.org\"\n[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\n"
	const remote = "[dns]\nservers = [\"127.0.0.1:53\", \"192.0.2.53:53\", \"[2001:db8::53]:53\"]\n"
	const local = "[dns]\nservers = [\"127.0.0.1:53\", \"[::1]:53\"]\n"
	const routeStage = "[[stage]]\nname = \"routes\"\nplugin = \"route\"\n[stage.config]\nrules = [\n" +
		"  { match = \"partner.example\", transport = \"smtp:[mx.partner.example]:25?tls=verify\" },\n" +
		"  { match = \"bank.example\", transport = \"smtp:mx.bank.example?tls=dane-only\" },\n]\n"
	const want = "DANE is on (%s) and trusts the AD bit of DNS servers not on loopback: %s, whose answers can be forged on the way; " +
		"run a validating resolver on this host (unbound on 127.0.0.1) and name it alone in [dns] servers, as Postfix's DANE needs"
	for _, tc := range []struct{ name, src, uses, servers string }{
		{"dane", head + remote + "[delivery]\ndane = true\n", "[delivery] dane", "192.0.2.53:53, [2001:db8::53]:53 ([dns] servers)"},
		{"resolv.conf", head + "[delivery]\ndane = true\n", "[delivery] dane", "192.0.2.53 (" + resolvConf + ")"},
		{"relay", head + remote + "[delivery]\nrelay = \"smtp:smtp.provider.example:587?tls=dane\"\n", "relay", "192.0.2.53:53, [2001:db8::53]:53 ([dns] servers)"},
		{"fallback relay", head + remote + "[delivery]\nfallback_relay = [\"backup.example:25\", \"smtp:[relay.example]?tls=dane-only\"]\n",
			"fallback_relay", "192.0.2.53:53, [2001:db8::53]:53 ([dns] servers)"},
		{"route rule", head + remote + routeStage, "stage routes", "192.0.2.53:53, [2001:db8::53]:53 ([dns] servers)"},
		{"all", head + remote + "[delivery]\ndane = true\nrelay = \"smtp:smtp.provider.example:587?tls=dane\"\n" + routeStage,
			"[delivery] dane, relay, stage routes", "192.0.2.53:53, [2001:db8::53]:53 ([dns] servers)"},
		{"loopback", head + local + "[delivery]\ndane = true\nrelay = \"smtp:smtp.provider.example:587?tls=dane\"\n" + routeStage, "", ""},
		{"dane off", head + remote + "[delivery]\nrelay = \"smtp:smtp.provider.example:587?tls=verify\"\nfallback_relay = [\"backup.example:25\"]\n", "", ""},
		{"dane off, resolv.conf", head + "[delivery]\nmta_sts = true\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := parseConfig(t, tc.src)
			got := daneResolverWarningsWith(c, resolvConf)
			if tc.uses == "" {
				if len(got) != 0 {
					t.Fatalf("warnings %q, want none", got)
				}
				return
			}
			w := strings.Replace(strings.Replace(want, "%s", tc.uses, 1), "%s", tc.servers, 1)
			if len(got) != 1 || got[0] != w {
				t.Fatalf("warnings %q\nwant [%q]", got, w)
			}
		})
	}
}

// check-config (Check) and serve at start and at each reload
// (configWarnings, which both log) say it; the [dns] servers are never
// asked: Check dials no DNS server.
func TestDANEResolverWarningSaid(t *testing.T) {
	dir := t.TempDir()
	src := reloadBase(filepath.Join(dir, "data"), mxListener+"[dns]\nservers = [\"192.0.2.53:53\"]\n[delivery]\ndane = true\n")
	c := parseConfig(t, src)
	const prefix = "DANE is on ([delivery] dane) and trusts the AD bit of DNS servers not on loopback: 192.0.2.53:53 ([dns] servers)"
	count := func(ws []string) int {
		return len(slices.DeleteFunc(slices.Clone(ws), func(w string) bool { return !strings.HasPrefix(w, prefix) }))
	}
	res, err := Check(c, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(res.Warnings); n != 1 {
		t.Errorf("check-config: %d DANE resolver warnings in %q, want 1", n, res.Warnings)
	}
	if n := count(configWarnings(c, nil)); n != 1 {
		t.Errorf("serve: %d DANE resolver warnings in %q, want 1", n, configWarnings(c, nil))
	}
}

// resolv.conf(5): the nameserver lines, nothing else; a missing file
// has none.
func TestResolvConfServers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("; comment\nnameserver 10.0.0.1\n#nameserver 10.0.0.9\ndomain example\n  nameserver   ::1  \nnameserver\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := resolvConfServers(path); !slices.Equal(got, []string{"10.0.0.1", "::1"}) {
		t.Errorf("servers %q", got)
	}
	if got := resolvConfServers(filepath.Join(t.TempDir(), "none")); got != nil {
		t.Errorf("missing file: %q", got)
	}
}
