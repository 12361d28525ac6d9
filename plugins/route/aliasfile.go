package route

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/tablefile"
	"github.com/sluice-mta/sluice/sdk"
)

// aliasTable is aliases by addrKey (or "@domain"): targets as written.
type aliasTable map[string][]string

// aliasFile is the aliases_file: a Postfix virtual(5) table's text file
// (the one postmap reads, not the .db it builds), or a maddy table.file
// or aliases(5) file of "key: target, target" lines. It is read again
// when it changes on disk, as the filter's access tables are
// (tablefile): a reload keeps the stage of an unchanged [stage.config]
// running, and the file is the kind other tools rewrite. A file that
// turns bad keeps the table read before, and the bad content is logged
// once, naming its file and line.
type aliasFile struct {
	file *tablefile.File[aliasTable]
}

// openAliasFile reads path; inline is the [stage.config.aliases] table,
// whose keys the file must not have too (see readAliases).
func openAliasFile(path string, inline aliasTable, log *slog.Logger) (*aliasFile, error) {
	warn := func(err error) {
		log.Warn("route: aliases_file not read again: the aliases read before stay in force", "file", path, "error", err.Error())
	}
	f, err := tablefile.Open(path, func(b []byte) (aliasTable, error) { return readAliases(path, b, inline) }, warn)
	if err != nil {
		return nil, err
	}
	return &aliasFile{file: f}, nil
}

// readAliases reads an aliases file's content b, as Postfix's postmap
// reads virtual(5)'s source: a line "pattern result, result", its results
// separated by commas and/or white space; a line starting with white
// space continues the one before; a line whose first non-blank character
// is # is a comment (a # elsewhere is text, as in Postfix). A colon
// right after the key, "pattern: result, result", is aliases(5)'s and
// maddy's table.file form, read alike. Keys and results are what the
// [stage.config.aliases] table takes: user@domain or @domain (the
// domain's catch-all) to addresses, each one the core would add as a
// recipient (envelope.MailboxError). A key given twice in the file, or
// in the file and the table, is an error naming the line: postmap keeps
// the first of two and maddy merges them, so which one an operator
// meant is not sure.
func readAliases(path string, b []byte, inline aliasTable) (aliasTable, error) {
	lines, err := tablefile.Lines(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	out := aliasTable{}
	first := map[string]int{} // the line of each key
	for _, l := range lines {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, l.N, fmt.Sprintf(format, a...))
		}
		key, rest := splitAliasLine(l.Text)
		if err := checkAliasKey(key); err != nil {
			return nil, fail("%q: %v", key, err)
		}
		k := addrKey(key)
		if n, dup := first[k]; dup {
			return nil, fail("%q: the address of line %d again; put all its targets on one line", key, n)
		}
		if _, dup := inline[k]; dup {
			return nil, fail("%q: also in [stage.config.aliases]; keep it in one of them", key)
		}
		targets := strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		if len(targets) == 0 {
			return nil, fail("%q: no targets", key)
		}
		for _, t := range targets {
			err := checkAliasTarget(t)
			if err == nil {
				// What the core would refuse to add: a file other tools
				// write is checked as a stage's edits are.
				if err = envelope.MailboxError(t); err != nil {
					err = fmt.Errorf("target %q: %v", t, err)
				}
			}
			if err != nil {
				if strings.HasSuffix(t, ":") {
					err = fmt.Errorf("%v (a line starting with white space continues the one before)", err)
				}
				return nil, fail("%q: %v", key, err)
			}
		}
		first[k], out[k] = l.N, targets
	}
	return out, nil
}

// CheckAliasesFile reports whether b, the content of the file at path,
// is one aliases_file reads, with the error the stage would give at
// start (path:line: why) when it is not. sluice import-postfix asks it
// before naming a virtual_alias_maps table's source file as the
// aliases_file, so that the draft never holds a file the stage refuses.
func CheckAliasesFile(path string, b []byte) error {
	_, err := readAliases(path, b, nil)
	return err
}

// splitAliasLine splits a line at its key's end: the first white space,
// or a colon outside brackets (an address literal's "[IPv6:…]" has
// colons), dropping the colon of "key: targets".
func splitAliasLine(s string) (key, rest string) {
	depth, i := 0, 0
scan:
	for ; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ' ', '\t':
			break scan
		case ':':
			if depth <= 0 {
				break scan
			}
		}
	}
	key, rest = s[:i], strings.TrimLeft(s[i:], " \t")
	return key, strings.TrimPrefix(rest, ":")
}

// checkAliasKey accepts an alias key, of the table or the file:
// user@domain, or @domain for the domain's catch-all. A local part alone
// (aliases(5)'s, which maddy takes at every domain) and a domain alone
// (Postfix's virtual alias domain line, "example.com anything") are not.
func checkAliasKey(k string) error {
	if i := strings.LastIndexByte(k, '@'); i < 0 || i == len(k)-1 {
		return errors.New("want user@domain or @domain (a local part alone names no domain: write it for each domain; a domain alone is no alias: a route rule with recipients takes the domain's mail)")
	}
	return nil
}

// checkAliasTarget accepts an alias target: an address (not aliases(5)'s
// local name, "|command", "/file" or ":include:").
func checkAliasTarget(t string) error {
	if i := strings.LastIndexByte(t, '@'); i < 1 || i == len(t)-1 {
		return fmt.Errorf("target %q is not an address", t)
	}
	return nil
}

// configureAliasFile opens c.AliasesFile, if set, once the inline aliases
// are in p.aliases.
func (p *Plugin) configureAliasFile(c Config) error {
	p.aliasFile = nil
	if c.AliasesFile == "" {
		return nil
	}
	log := p.log
	if log == nil {
		log = sdk.Logger()
	}
	f, err := openAliasFile(c.AliasesFile, p.aliases, log)
	if err != nil {
		return fmt.Errorf("route: aliases_file %q: %w", c.AliasesFile, err)
	}
	p.aliasFile = f
	return nil
}

// aliasTargets returns the targets of key (an addrKey, or "@domain"):
// the table's, else the file's as last read well.
func (p *Plugin) aliasTargets(key string) ([]string, bool) {
	if t, ok := p.aliases[key]; ok {
		return t, true
	}
	if p.aliasFile == nil {
		return nil, false
	}
	m, _ := p.aliasFile.file.Current()
	t, ok := m[key]
	return t, ok
}

// aliasTrouble is what a trace adds while the aliases_file's latest
// content could not be read: "" when it was, or without a file.
func (p *Plugin) aliasTrouble() string {
	if p.aliasFile == nil {
		return ""
	}
	if _, err := p.aliasFile.file.Current(); err != nil {
		return fmt.Sprintf(" (aliases_file as last read: reading it again failed: %v)", err)
	}
	return ""
}
