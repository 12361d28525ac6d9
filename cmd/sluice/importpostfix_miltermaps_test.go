package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// smtpd_milter_maps' cidr: table lines saying DISABLE become the smtpd
// milter stages' skip_networks (not non_smtpd_milters', whose sessions
// the map does not decide); another result and another table type are
// listed as not carried over.
func TestImportPostfixMilterMaps(t *testing.T) {
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myhostname = mx.example.org\nsmtpd_milters = inet:127.0.0.1:8891\nnon_smtpd_milters = inet:127.0.0.1:8892\n" +
			"smtpd_milter_maps = cidr:/etc/postfix/milter_map, hash:/etc/postfix/other\n",
		"milter_map": "# inside\n192.168.0.0/16 DISABLE\n[::1]/128\tDISABLE\n10.0.0.0/8 inet:127.0.0.1:9999\n",
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
			got = append(got, fmt.Sprint(s.Milter, " ", s.SkipNetworks))
		}
	}
	want := "inet:127.0.0.1:8891 [192.168.0.0/16 ::1/128]|inet:127.0.0.1:8892 []"
	if strings.Join(got, "|") != want {
		t.Errorf("milter stages: %q, want %q\n%s", strings.Join(got, "|"), want, out)
	}
	_, list, _ := strings.Cut(out, "\n# Read but not carried over:\n")
	for _, w := range []string{"milter_map:4 10.0.0.0/8 inet:127.0.0.1:9999", "table hash:/etc/postfix/other: only cidr: tables"} {
		if !strings.Contains(list, w) {
			t.Errorf("not carried over: want %q in:\n%s", w, list)
		}
	}
}
