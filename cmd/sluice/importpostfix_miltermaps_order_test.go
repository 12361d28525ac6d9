package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// A cidr: table's first matching line decides (cidr_table(5)): a DISABLE
// line that an earlier line, negation or if/endif block answers for some
// of its clients, or one Postfix skips (host bits set), is not carried
// over, as it would skip the milters Postfix runs for those clients.
func TestImportPostfixMilterMapsFirstMatch(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtpd_milters = inet:127.0.0.1:8891\n" +
			"smtpd_milter_maps = cidr:/etc/postfix/milter_map\n",
		"milter_map": "# internal hosts get the milter\n\n" +
			"192.168.1.0/24 inet:127.0.0.1:9999\n" +
			"192.168.0.0/16 DISABLE\n" + // shadowed in part by the line above
			"172.16.0.0/12 DISABLE\n" +
			"10.1.2.3/8 DISABLE\n" + // host bits: Postfix skips the line
			"198.51.100.0/24 DISABLE now\n" +
			"203.0.113.0/24 OK\n" +
			"if 100.64.0.0/10\n0.0.0.0/0 DISABLE\nendif\n" +
			"[2001:db8::]/32 DISABLE\n" +
			"!127.0.0.0/8 inet:127.0.0.1:9998\n" +
			"192.0.2.0/24 DISABLE\n", // after the negation: not first
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("sluice.toml", []byte(withCertificates(t, out)))
	if err != nil {
		t.Fatalf("core/config refuses the output: %v\n%s", err, out)
	}
	var got []string
	for _, s := range cfg.Stages {
		if s.Milter != "" {
			got = append(got, fmt.Sprint(s.SkipNetworks))
		}
	}
	if want := "[172.16.0.0/12 2001:db8::/32]"; strings.Join(got, "|") != want {
		t.Errorf("skip_networks: %q, want %q\n%s", strings.Join(got, "|"), want, out)
	}
	_, list, _ := strings.Cut(out, "\n# Read but not carried over:\n")
	for _, w := range []string{"milter_map:4 192.168.0.0/16 DISABLE", "milter_map:6 10.1.2.3/8 DISABLE\n#       host bits",
		"milter_map:7 198.51.100.0/24 DISABLE now", "milter_map:8 203.0.113.0/24 OK",
		"milter_map:10 0.0.0.0/0 DISABLE", "milter_map:14 192.0.2.0/24 DISABLE"} {
		if !strings.Contains(list, w) {
			t.Errorf("not carried over: want %q in:\n%s", w, list)
		}
	}
}
