package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	toml "github.com/pelletier/go-toml/v2"
)

// virtual_alias_maps' tables become the route stage's aliases_file,
// their source files (one a string, several a list in main.cf's order),
// when the route stage reads those files as they are (the stage's own
// check, route.CheckAliasesFiles): the stage then reads each again when
// it changes, as Postfix takes up a table postmap rebuilt. Otherwise the
// aliases are inline as before, with why: a line the stage would refuse
// (file:line), a key in two tables (the stage refuses it, where Postfix
// takes the first table's), or a table of another type. The draft
// passes check-config, which opens the files.
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
			AliasesFile any                 `toml:"aliases_file"`
			Aliases     map[string][]string `toml:"aliases"`
		} `toml:"config"`
	}
	for _, tc := range []struct {
		name, maps, virtual string
		file                any      // aliases_file (a string or a list); nil: the aliases inline
		inline              []string // keys written inline
		says                string   // in the draft
	}{
		{name: "under config_directory", maps: "hash:/etc/postfix/virtual", virtual: good, file: "/etc/postfix/virtual",
			says: "# virtual_alias_maps = hash:/etc/postfix/virtual: its source file (the one postmap reads), read again whenever it changes, as Postfix takes up a rebuilt table: no postmap needed\naliases_file = \"/etc/postfix/virtual\"\n"},
		{name: "elsewhere, through proxymap", maps: "proxy:texthash:" + elsewhere + "/virtual", file: elsewhere + "/virtual"},
		{name: "a bare target", maps: "hash:/etc/postfix/virtual", virtual: good + "abuse@example.org ops\n",
			inline: []string{"postmaster@example.org", "sales@example.org", "@example.net", "abuse@example.org"},
			says:   "[stage.config.aliases]\n# inline, not aliases_file = \"/etc/postfix/virtual\", which the route stage would refuse: /etc/postfix/virtual:6: \"abuse@example.org\": target \"ops\" is not an address\n"},
		{name: "a virtual alias domain", maps: "hash:/etc/postfix/virtual", virtual: "example.com anything\n" + good,
			inline: []string{"postmaster@example.org", "sales@example.org", "@example.net"},
			says:   "/etc/postfix/virtual:1: \"example.com\": want user@domain or @domain"},
		{name: "two tables", maps: "hash:/etc/postfix/virtual, hash:" + elsewhere + "/virtual2", virtual: "info@example.org bob@example.org\n",
			file: []any{"/etc/postfix/virtual", elsewhere + "/virtual2"},
			says: "# virtual_alias_maps = hash:/etc/postfix/virtual, hash:" + elsewhere + "/virtual2: the tables' source files (the ones postmap reads), each read again whenever it changes, as Postfix takes up a rebuilt table: no postmap needed; no key is in two of them (the route stage refuses one that is, where Postfix takes the first table's)\n" +
				"aliases_file = [\"/etc/postfix/virtual\", \"" + elsewhere + "/virtual2\"]\n"},
		{name: "two tables, a key in both", maps: "hash:/etc/postfix/virtual, hash:" + elsewhere + "/virtual2", virtual: "info@example.org bob@example.org\nsales@example.org erin@example.org\n",
			inline: []string{"info@example.org", "postmaster@example.org", "sales@example.org", "@example.net"},
			says: "[stage.config.aliases]\n# inline, not aliases_file = [\"/etc/postfix/virtual\", \"" + elsewhere + "/virtual2\"], which the route stage would refuse: " +
				elsewhere + "/virtual2:3: \"sales@example.org\": also in /etc/postfix/virtual:2; keep it in one of them\n"},
		{name: "one table named twice", maps: "hash:/etc/postfix/virtual, proxy:hash:/etc/postfix/virtual", virtual: good, file: "/etc/postfix/virtual"},
		{name: "a table of another type", maps: "hash:/etc/postfix/virtual, pcre:/etc/postfix/virtual.pcre", virtual: good,
			inline: []string{"postmaster@example.org", "sales@example.org", "@example.net"},
			says:   "[stage.config.aliases]\n# inline, not an aliases_file: virtual_alias_maps names pcre:/etc/postfix/virtual.pcre too, not a hash-style table, and aliases_file takes only those tables' source files\n"},
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
			if !reflect.DeepEqual(c.AliasesFile, tc.file) {
				t.Errorf("aliases_file = %#v, want %#v\n%s", c.AliasesFile, tc.file, out)
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
			if strings.Contains(out, "#   virtual_alias_maps") && tc.name != "a table of another type" {
				t.Errorf("virtual_alias_maps listed as not carried:\n%s", out)
			}
			// The draft names the file where Postfix has it; check-config
			// here reads the -d copy of one under config_directory.
			lines := strings.Split(out, "\n")
			for i, l := range lines {
				if strings.HasPrefix(l, "aliases_file = ") {
					lines[i] = strings.ReplaceAll(l, `"/etc/postfix/virtual"`, `"`+filepath.Join(dir, "virtual")+`"`)
				}
			}
			checkConfigPasses(t, strings.Join(lines, "\n"))
		})
	}
}

// TestImportPostfixAliasesFirstTableWins: virtual_alias_maps written
// inline takes a key's targets from the first table that has it, as
// Postfix's maps_find returns the first table's result (and postmap
// keeps the first of a key given twice in one file, keys folded to lower
// case), not the targets of every table merged; the entry dropped is
// listed with why. A user@domain key, which mail_addr_find looks up in
// every table before a bare user's, wins over a bare user's expansion
// whatever their order, and a bare user at a domain both $myorigin and
// in $mydestination gets its targets once.
func TestImportPostfixAliasesFirstTableWins(t *testing.T) {
	elsewhere := t.TempDir()
	second := "sales@example.org carol@example.org, dave@example.org\n" +
		"alice@example.org alice2@remote.test\n" +
		"info@example.org bob@example.org\n" +
		"bob bob2@remote.test\n" +
		"@old.example catchall@example.org\n"
	if err := os.WriteFile(filepath.Join(elsewhere, "virtual2"), []byte(second), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := writePostfix(t, "postfix", map[string]string{
		"main.cf": "myorigin = example.org\nmydestination = example.org, localhost\n" +
			"virtual_alias_maps = hash:/etc/postfix/virtual, hash:" + elsewhere + "/virtual2\n",
		"master.cf": "smtp inet n - y - - smtpd\n",
		"virtual": "Sales@Example.org erin@example.org\n" +
			"alice alice1@remote.test\n" +
			"sales@example.org frank@example.org\n" +
			"bob bob1@remote.test\n" +
			"@old.example @new.example\n",
	})
	out, err := importPostfix(dir, "host")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Stage []struct {
			Config struct {
				Aliases map[string][]string `toml:"aliases"`
			} `toml:"config"`
		} `toml:"stage"`
	}
	if err := toml.Unmarshal([]byte(out), &doc); err != nil || len(doc.Stage) != 1 {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string][]string{
		"Sales@Example.org": {"erin@example.org"},
		"alice@example.org": {"alice2@remote.test"},
		"alice@localhost":   {"alice1@remote.test"},
		"info@example.org":  {"bob@example.org"},
		"bob@example.org":   {"bob1@remote.test"},
		"bob@localhost":     {"bob1@remote.test"},
	}
	if got := doc.Stage[0].Config.Aliases; !reflect.DeepEqual(got, want) {
		t.Errorf("aliases %v, want %v\n%s", got, want, out)
	}
	for l, first := range map[string]string{
		"/etc/postfix/virtual:3 sales@example.org frank@example.org":                    "/etc/postfix/virtual:1",
		elsewhere + "/virtual2:1 sales@example.org carol@example.org, dave@example.org": "/etc/postfix/virtual:1",
		elsewhere + "/virtual2:4 bob bob2@remote.test":                                  "/etc/postfix/virtual:4",
		elsewhere + "/virtual2:5 @old.example catchall@example.org":                     "/etc/postfix/virtual:5",
	} {
		if why := "#   " + l + "\n#       also at " + first + ", whose targets Postfix takes"; !strings.Contains(out, why) {
			t.Errorf("want %q in:\n%s", why, out)
		}
	}
	checkConfigPasses(t, out)
}
