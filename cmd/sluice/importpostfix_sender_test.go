package main

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// checkBrands checks the brands draft as core/config read it: the
// sender-dependent maps are route rules with a sender after
// transport_maps' rule, each table's address keys before its domain
// keys, the default-transport table's before the relayhost table's; the
// BCC settings are the route stage's.
func checkBrands(t *testing.T, c *config.Config) {
	t.Helper()
	if len(c.Stages) != 1 {
		t.Fatalf("brands: stages %+v, want the route stage alone", c.Stages)
	}
	cfg := c.Stages[0].Config
	var rules []string
	rs, _ := cfg["rules"].([]any)
	for _, r := range rs {
		m := r.(map[string]any)
		sender, _ := m["sender"].(string)
		rules = append(rules, strings.Join(strings.Fields(m["match"].(string)+" "+sender+" "+m["transport"].(string)), " "))
	}
	want := []string{
		"archive.example.net smtp:[archive.example.net]:25?tls=required",
		"* news@brand-b.example smtp:[bulk.esp-b.example]:25?tls=required",
		"* retired@brand-b.example reject",
		"* ceo@brand-a.example mx",
		"* brand-a.example smtp:[smtp.esp-a.example]:587?tls=required",
		"* brand-b.example smtp:[smtp.esp-b.example]:2525?tls=required",
		"* <> smtp:[bounces.esp-a.example]?tls=required",
		"* brand-c.example smtp:smtp.esp-c.example?tls=required",
	}
	if !slices.Equal(rules, want) {
		t.Errorf("brands: rules\n%q\nwant\n%q", rules, want)
	}
	if cfg["always_bcc"] != "archive@archive.example.net" {
		t.Errorf("brands: always_bcc = %v", cfg["always_bcc"])
	}
	bcc := func(key string) map[string]string {
		out := map[string]string{}
		m, _ := cfg[key].(map[string]any)
		for k, v := range m {
			out[k], _ = v.(string)
		}
		return out
	}
	if got, want := bcc("sender_bcc"), map[string]string{"@brand-a.example": "brand-a-out@archive.example.net", "ceo@brand-a.example": "ceo-out@archive.example.net"}; !maps.Equal(got, want) {
		t.Errorf("brands: sender_bcc = %v, want %v", got, want)
	}
	if got, want := bcc("recipient_bcc"), map[string]string{"@brand-a.example": "brand-a-in@archive.example.net"}; !maps.Equal(got, want) {
		t.Errorf("brands: recipient_bcc = %v, want %v", got, want)
	}
}

// A transport_maps "*" entry takes every recipient before any
// sender-dependent route, in Postfix as in Sluice: the sender maps are
// listed, not written as rules the route stage would refuse as hidden;
// a DUNNO without relayhost is MX with smtp_tls_security_level's tls=,
// as the rule for all other MX mail has it.
func TestImportPostfixSenderMapsEdges(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf":   "myhostname = mx.example.org\ntransport_maps = hash:/etc/postfix/transport\nsender_dependent_relayhost_maps = hash:/etc/postfix/relay\n",
		"transport": "* smtp:[hub.example.org]:25\n",
		"relay":     "@brand.example [esp.example]:587\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "sender = ") || !strings.Contains(out, "#   sender_dependent_relayhost_maps = hash:/etc/postfix/relay\n#       transport_maps' * rule takes every recipient") {
		t.Errorf("sender map under a * rule:\n%s", out)
	}
	dir = writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtp_tls_security_level = verify\nsender_dependent_relayhost_maps = hash:/etc/postfix/relay\n" +
			"empty_address_relayhost_maps_lookup_key = <bounce>\n",
		"relay": "ceo@brand.example DUNNO\n@brand.example [esp.example]:587\n<bounce> [bounces.example]\n<> [never.example]\n",
	})
	out, err = importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sender = \"ceo@brand.example\"\ntransport = \"mx?tls=verify\"\n",
		"sender = \"brand.example\"\ntransport = \"smtp:[esp.example]:587?tls=verify\"\n",
		"sender = \"<>\"\ntransport = \"smtp:[bounces.example]?tls=verify\"\n",
		"#   /etc/postfix/relay:4 <> [never.example]\n#       a sender key is user@domain, @domain or <bounce>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("draft lacks %q:\n%s", want, out)
		}
	}
}

// Postfix looks the two sender-dependent maps up each on its own, the
// transport in the first, the next hop in the second, and a transport's
// own next hop wins (resolve.c): a sender in both gets one rule with
// both, not two rules of which the route stage would refuse the second
// as hidden. A transport without a next hop (bulk:, smtp:) or DUNNO takes
// the relayhost map's, or else the default route's, with the TLS level.
func TestImportPostfixSenderMapsTogether(t *testing.T) {
	t.Setenv("SLUICE_TEST_MAIN", "1") // check-config starts the route plugin: this test binary as sluice
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtp_tls_security_level = encrypt\n" +
			"sender_dependent_default_transport_maps = hash:/etc/postfix/xport\nsender_dependent_relayhost_maps = hash:/etc/postfix/relay\n",
		"master.cf": "smtp inet n - y - - smtpd\nbulk unix - - y - - smtp\n  -o smtp_bind_address=192.0.2.9\n",
		"xport":     "@brand-b.example bulk:\nceo@brand-a.example DUNNO\n@brand-c.example smtp:[bulk-c.example]:25\n@brand-d.example smtp:\n",
		"relay":     "@brand-a.example [esp-a.example]:587\n@brand-b.example [esp-b.example]:2525\n@brand-c.example [esp-c.example]:587\nvip@brand-c.example [vip.example]\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^sender = "(.*)"\ntransport = "(.*)"$`).FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+" "+m[2])
	}
	want := []string{
		"ceo@brand-a.example smtp:[esp-a.example]:587?tls=required",
		"vip@brand-c.example smtp:[bulk-c.example]:25?tls=required",
		"brand-b.example smtp:[esp-b.example]:2525?tls=required&source=192.0.2.9",
		"brand-c.example smtp:[bulk-c.example]:25?tls=required",
		"brand-d.example mx?tls=required",
		"brand-a.example smtp:[esp-a.example]:587?tls=required",
	}
	if !slices.Equal(got, want) {
		t.Errorf("sender rules\n%q\nwant\n%q\n%s", got, want, out)
	}
	path := filepath.Join(t.TempDir(), "sluice.toml")
	if err := os.WriteFile(path, []byte(out+"\n[dns]\nservers = [\"127.0.0.1:1\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check-config", "-c", path}, nil, &stdout, &stderr); code != 0 {
		t.Errorf("check-config: exit %d: %s%s", code, stderr.String(), stdout.String())
	}
}

// A master.cf transport's own -o smtp_tls_security_level is the level of
// the sender rules that use it, main.cf's of the others: with both on
// the route, the rule had two tls= and the service's was dropped.
func TestImportPostfixSenderMapsServiceTLS(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtp_tls_security_level = encrypt\n" +
			"sender_dependent_default_transport_maps = hash:/etc/postfix/xport\nsender_dependent_relayhost_maps = hash:/etc/postfix/relay\n",
		"master.cf": "smtp inet n - y - - smtpd\nbulk unix - - y - - smtp\n  -o smtp_tls_security_level=verify\n",
		"xport":     "@a.example bulk:\n@b.example bulk:\n",
		"relay":     "@a.example [esp-a.example]:587\n@c.example [esp-c.example]:587\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"sender = \"a.example\"\ntransport = \"smtp:[esp-a.example]:587?tls=verify\"\n",
		"sender = \"b.example\"\ntransport = \"mx?tls=verify\"\n",
		"sender = \"c.example\"\ntransport = \"smtp:[esp-c.example]:587?tls=required\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("draft lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "needs one value") {
		t.Errorf("a tls= dropped:\n%s", out)
	}
}
