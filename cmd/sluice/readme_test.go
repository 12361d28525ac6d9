package main

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// helpArgs are the arguments that make each command print its -h, with
// the flags its FlagSet defines.
var helpArgs = map[string][]string{
	"serve":           {"serve"},
	"check-config":    {"check-config"},
	"queue":           {"queue", "list"},
	"trace":           {"trace"},
	"tlsrpt":          {"tlsrpt"},
	"replay":          {"replay"},
	"dkim":            {"dkim", "keygen"},
	"plugin":          {"plugin"},
	"reload":          {"reload"},
	"sendmail":        {"sendmail"},
	"user":            {"user", "add"},
	"import-postfix":  {"import-postfix"},
	"bounce-template": {"bounce-template"},
	"version":         {"version"},
}

// moreHelpArgs are a command's other subcommands with flags of their own.
var moreHelpArgs = map[string][][]string{"dkim": {{"dkim", "txt"}}}

// commandFlags returns the flags a command's --help lists: those of its
// FlagSet ("  -name type"), or for sendmail, whose options are getopt's,
// those its usage lists at the start of a line; with the flags of its
// other subcommands in moreHelpArgs.
func commandFlags(t *testing.T, name string) []string {
	var out []string
	for _, args := range append([][]string{helpArgs[name]}, moreHelpArgs[name]...) {
		out = append(out, helpFlags(t, name, args)...)
	}
	return out
}

// helpFlags returns the flags args' --help lists (see commandFlags).
func helpFlags(t *testing.T, name string, args []string) []string {
	help := runCLI(t, append(slices.Clone(args), "--help")...)
	re := regexp.MustCompile(`(?m)^  -([a-zA-Z][\w-]*)`)
	if name != "sendmail" {
		_, flags, ok := strings.Cut(help, "\nflags:\n")
		if !ok {
			return nil
		}
		help = flags
	}
	var out []string
	for _, m := range re.FindAllStringSubmatch(help, -1) {
		out = append(out, m[1])
	}
	return out
}

// readmeCommandRows returns README's "## Command line" table by command:
// the first cell of each row whose command is "sluice NAME".
func readmeCommandRows(t *testing.T) map[string]string {
	rows := map[string]string{}
	name := regexp.MustCompile("^`sluice ([a-z-]+)")
	for _, l := range strings.Split(testlib.READMESection(t, "## Command line"), "\n") {
		// An escaped \| is inside a cell; a cell ends at " | ".
		cell, _, _ := strings.Cut(strings.TrimPrefix(l, "| "), " | ")
		if m := name.FindStringSubmatch(cell); m != nil && strings.HasPrefix(l, "| ") {
			rows[m[1]] += cell + "\n"
		}
	}
	return rows
}

// flagsIn returns the flags a synopsis names ("-c", "--admin", "-bcrypt").
func flagsIn(synopsis string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?:^|[\s\[|(])--?([a-zA-Z][\w-]*)`).FindAllStringSubmatch(synopsis, -1) {
		out = append(out, m[1])
	}
	return out
}

// hasFlag reports whether text names the flag, as -f or --flag.
func hasFlag(text, flag string) bool {
	return regexp.MustCompile(`(?:^|[\s\[|(` + "`" + `])--?` + regexp.QuoteMeta(flag) + `\b`).MatchString(text)
}

// TestREADMECommandLine: README's "## Command line" table and sluice -h
// list every command and every flag each command's -h lists, and name no
// command or flag that does not exist.
func TestREADMECommandLine(t *testing.T) {
	rows := readmeCommandRows(t)
	for _, name := range commands {
		if name == "help" {
			continue
		}
		if _, ok := helpArgs[name]; !ok {
			t.Fatalf("command %s: add it to helpArgs", name)
		}
		row, ok := rows[name]
		if !ok {
			t.Errorf("README's Command line table has no row for sluice %s", name)
			continue
		}
		if !strings.Contains(usage, "\n  "+name) {
			t.Errorf("sluice -h lists no %s command", name)
		}
		overview := usageEntry(name)
		for _, f := range commandFlags(t, name) {
			if name != "sendmail" && !hasFlag(row, f) { // its row points to its own table
				t.Errorf("README's Command line row for sluice %s lacks its flag -%s:%s", name, f, row)
			}
			if name != "sendmail" && !hasFlag(overview, f) {
				t.Errorf("sluice -h's %s entry lacks its flag -%s:\n%s", name, f, overview)
			}
		}
	}
	for name, row := range rows {
		if !slices.Contains(commands, name) {
			t.Errorf("README's Command line table names sluice %s, which is no command", name)
			continue
		}
		known := commandFlags(t, name)
		for _, f := range append(flagsIn(row), flagsIn(usageEntry(name))...) {
			if !slices.Contains(known, f) {
				t.Errorf("README or sluice -h give sluice %s a flag -%s it does not take", name, f)
			}
		}
	}
}

// usageEntry returns the lines of sluice -h about the command: its line
// and those indented under it.
func usageEntry(name string) string {
	var b strings.Builder
	in := false
	for _, l := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(l, "  "+name+" ") || l == "  "+name:
			in = true
		case strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   "):
			in = false
		}
		if in {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestREADMESendmailOptions: every option sluice sendmail -h lists is in
// README's sendmail table.
func TestREADMESendmailOptions(t *testing.T) {
	section := testlib.READMESection(t, "### sendmail")
	var table strings.Builder
	for _, l := range strings.Split(section, "\n") {
		if strings.HasPrefix(l, "| `") {
			cell, _, _ := strings.Cut(strings.TrimPrefix(l, "| "), " |")
			table.WriteString(cell + "\n")
		}
	}
	for _, f := range commandFlags(t, "sendmail") {
		if !hasFlag(table.String(), f) {
			t.Errorf("README's sendmail option table lacks -%s", f)
		}
	}
}
