package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// virtual_alias_maps' one table becomes the route stage's aliases_file,
// its source file, when the route stage reads that file as it is (the
// stage's own check, route.CheckAliasesFile): the stage then reads it
// again when it changes, as Postfix takes up a table postmap rebuilt.
// Otherwise the aliases are inline as before, with why: a line the
// stage would refuse (file:line), or several tables, which would each
// need a file. The draft passes check-config, which opens the file.
func TestImportPostfixAliasesFile(t *testing.T) {
	const good = "# virtual_alias_maps source\npostmaster@example.org  alice@example.org\n" +
		"sales@example.org carol@example.org,\n    dave@example.org\n@example.net catchall@example.org\n"
	elsewhere := t.TempDir() // a table outside config_directory, read where it is
	if err := os.WriteFile(filepath.Join(elsewhere, "virtual"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	type stage struct {
		Name   string `toml:"name"`
		Config struct {
			AliasesFile string              `toml:"aliases_file"`
			Aliases     map[string][]string `toml:"aliases"`
		} `toml:"config"`
	}
	for _, tc := range []struct {
		name, maps, virtual string
		file                string   // aliases_file; "": the aliases inline
		inline              []string // keys written inline
		says                string   // in the draft
	}{
		{name: "under config_directory", maps: "hash:/etc/postfix/virtual", virtual: good, file: "/etc/postfix/virtual",
			says: "# virtual_alias_maps = hash:/etc/postfix/virtual: its source file (the one postmap reads), read again whenever it changes, as Postfix takes up a rebuilt table: no postmap needed; with more than one table, all are written inline\naliases_file = \"/etc/postfix/virtual\"\n"},
		{name: "elsewhere, through proxymap", maps: "proxy:texthash:" + elsewhere + "/virtual", file: elsewhere + "/virtual"},
		{name: "a bare target", maps: "hash:/etc/postfix/virtual", virtual: good + "abuse@example.org ops\n",
			inline: []string{"postmaster@example.org", "sales@example.org", "@example.net", "abuse@example.org"},
			says:   "[stage.config.aliases]\n# inline, not aliases_file = \"/etc/postfix/virtual\", which the route stage would refuse: /etc/postfix/virtual:6: \"abuse@example.org\": target \"ops\" is not an address\n"},
		{name: "a virtual alias domain", maps: "hash:/etc/postfix/virtual", virtual: "example.com anything\n" + good,
			inline: []string{"postmaster@example.org", "sales@example.org", "@example.net"},
			says:   "/etc/postfix/virtual:1: \"example.com\": want user@domain or @domain"},
		{name: "two tables", maps: "hash:/etc/postfix/virtual, hash:" + elsewhere + "/virtual2", virtual: "info@example.org bob@example.org\n",
			inline: []string{"info@example.org", "postmaster@example.org", "sales@example.org", "@example.net"},
			says:   "[stage.config.aliases]\n# inline, not an aliases_file: virtual_alias_maps names 2 tables, and aliases_file is one file\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(elsewhere, "virtual2"), []byte(good), 0o644); err != nil {
				t.Fatal(err)
			}
			files := map[string]string{"main.cf": "virtual_alias_maps = " + tc.maps + "\n", "master.cf": "smtp inet n - y - - smtpd\n"}
			if tc.virtual != "" {
				files["virtual"] = tc.virtual
			}
			dir := writePostfix(t, "postfix", files)
			out, err := importPostfix(dir, "host")
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Stage []stage `toml:"stage"`
			}
			if err := toml.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if len(doc.Stage) != 1 || doc.Stage[0].Name != "route" {
				t.Fatalf("stages %+v, want the route stage\n%s", doc.Stage, out)
			}
			c := doc.Stage[0].Config
			if c.AliasesFile != tc.file {
				t.Errorf("aliases_file = %q, want %q\n%s", c.AliasesFile, tc.file, out)
			}
			var keys []string
			for k := range c.Aliases {
				keys = append(keys, k)
			}
			if len(keys) != len(tc.inline) {
				t.Errorf("inline aliases %q, want %q\n%s", keys, tc.inline, out)
			}
			for _, k := range tc.inline {
				if _, ok := c.Aliases[k]; !ok {
					t.Errorf("no inline alias %q\n%s", k, out)
				}
			}
			if !strings.Contains(out, tc.says) {
				t.Errorf("want %q in:\n%s", tc.says, out)
			}
			if strings.Contains(out, "#   virtual_alias_maps") {
				t.Errorf("virtual_alias_maps listed as not carried:\n%s", out)
			}
			// The draft names the file where Postfix has it; check-config
			// here reads the -d copy of one under config_directory.
			checked := strings.ReplaceAll(out, `aliases_file = "/etc/postfix/virtual"`, `aliases_file = "`+filepath.Join(dir, "virtual")+`"`)
			checkConfigPasses(t, checked)
		})
	}
}
