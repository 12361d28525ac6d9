package main

import (
	"maps"
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
		"archive.example.net smtp:[archive.example.net]:25",
		"* news@brand-b.example smtp:[bulk.esp-b.example]:25",
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
