package route

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/internal/tablefile"
	"github.com/sluice-mta/sluice/sdk"
)

// aliasTable is aliases by addrKey (or "@domain"): targets as written.
type aliasTable map[string][]string

// fileList is a key that takes one file name or a list of them:
// aliases_file = "/etc/postfix/virtual", or ["/etc/postfix/virtual",
// "/etc/postfix/virtual-lists"] as Postfix's virtual_alias_maps and
// maddy's replace_rcpt take several tables.
type fileList []string

// UnmarshalJSON takes a string or a list of strings; anything else is
// encoding/json's error, which names the key.
func (l *fileList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*l = nil
		if one != "" {
			*l = fileList{one}
		}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*l = many
	return nil
}

// aliasFiles is the aliases_file, one file or several: a Postfix
// virtual(5) table's text file (the one postmap reads, not the .db it
// builds), or a maddy table.file or aliases(5) file of "key: target,
// target" lines. Each is read again when it changes on disk, on its own,
// as the filter's access tables are (tablefile): a reload keeps the
// stage of an unchanged [stage.config] running, and the file is the kind
// other tools rewrite. A file that turns bad keeps the table read before
// from it, and the bad content is logged once, naming its file and line.
// A key in two of them, or in one and [stage.config.aliases], is an
// error (readAliases).
type aliasFiles struct {
	inline aliasTable

	// mu is held while the files are looked at, so that one file's
	// compile reads the others' tables (cur) as they are in force.
	mu    sync.Mutex
	files []*tablefile.File[fileAliases]
	cur   []fileAliases // each file's table as last read well
	taken bool          // a file's new content compiled during this look
}

// fileAliases is one aliases_file's table and the line of each key.
type fileAliases struct {
	targets aliasTable
	line    map[string]int
}

// openAliasFiles reads paths; inline is the [stage.config.aliases]
// table, whose keys no file may have too; now (nil: time.Now) is the
// clock a file written in place settles by. Its error names the file.
func openAliasFiles(paths []string, inline aliasTable, log *slog.Logger, now func() time.Time) (*aliasFiles, error) {
	w := &aliasFiles{inline: inline}
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	for i, path := range paths {
		switch clean := filepath.Clean(path); {
		case path == "":
			return nil, errors.New(`route: aliases_file "": want a file name`)
		case seen[clean]:
			return nil, fmt.Errorf("route: aliases_file %q: named twice", path)
		default:
			seen[clean] = true
		}
		warn := func(err error) {
			log.Warn("route: aliases_file not read again: the aliases read before stay in force", "file", path, "error", err.Error())
		}
		compile := func(b []byte) (fileAliases, error) {
			t, err := readAliases(path, b, func(k string) string { return w.elsewhere(i, k) })
			if err == nil {
				w.taken = true
			}
			return t, err
		}
		w.cur = append(w.cur, fileAliases{})
		f, err := tablefile.Open(path, compile, warn)
		if err != nil {
			return nil, fmt.Errorf("route: aliases_file %q: %w", path, err)
		}
		f.Now = now
		w.files = append(w.files, f)
		w.cur[i], _ = f.Current()
	}
	return w, nil
}

// elsewhere names where key is besides file i: "[stage.config.aliases]",
// another file's "path:line", or "" for nowhere. w.mu is held.
func (w *aliasFiles) elsewhere(i int, key string) string {
	if _, ok := w.inline[key]; ok {
		return "[stage.config.aliases]"
	}
	for j, t := range w.cur {
		if n, ok := t.line[key]; ok && j != i {
			return fmt.Sprintf("%s:%d", w.files[j].Path(), n)
		}
	}
	return ""
}

// look reads again the files that changed, and returns why each could
// not be, if it could not (errs[i] for file i; nil when all were read).
// Once one file's new content is taken, the files that were refused are
// compiled again, as they are: one refused for a key the other had (an
// alias moved from one file to another, the file it went to looked at
// first) is taken once the other let the key go. w.mu is held.
func (w *aliasFiles) look() (errs []error) {
	pending := make([]int, len(w.files))
	for i := range pending {
		pending[i] = i
	}
	for range w.files { // each pass takes a file, or is the last
		w.taken = false
		for _, i := range pending {
			var err error
			if w.cur[i], err = w.files[i].Current(); err != nil {
				if errs == nil {
					errs = make([]error, len(w.files))
				}
				errs[i] = err
			} else if errs != nil {
				errs[i] = nil
			}
		}
		if !w.taken || len(w.files) == 1 {
			break
		}
		pending = pending[:0]
		for i, err := range errs {
			if err != nil {
				w.files[i].ReadAgain()
				pending = append(pending, i)
			}
		}
	}
	for _, err := range errs {
		if err != nil {
			return errs
		}
	}
	return nil
}

// targets returns the targets of key in the files as last read well.
func (w *aliasFiles) targets(key string) ([]string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.look()
	for _, t := range w.cur {
		if ts, ok := t.targets[key]; ok {
			return ts, true
		}
	}
	return nil, false
}

// trouble is what a trace adds while a file's latest content could not
// be read: "" when each was.
func (w *aliasFiles) trouble() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var why []string
	for _, err := range w.look() {
		if err != nil {
			why = append(why, err.Error())
		}
	}
	if len(why) == 0 {
		return ""
	}
	return fmt.Sprintf(" (aliases_file as last read: reading it again failed: %s)", strings.Join(why, "; "))
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
// also elsewhere (the table, another aliases_file: elsewhere names where,
// or ""; nil for nowhere), is an error naming the line: postmap keeps
// the first of two, Postfix's first table wins, and maddy merges them,
// so which one an operator meant is not sure.
func readAliases(path string, b []byte, elsewhere func(key string) string) (fileAliases, error) {
	lines, err := tablefile.Lines(string(b))
	if err != nil {
		return fileAliases{}, fmt.Errorf("%s:%w", path, err)
	}
	out := aliasTable{}
	first := map[string]int{} // the line of each key
	for _, l := range lines {
		fail := func(format string, a ...any) error {
			return fmt.Errorf("%s:%d: %s", path, l.N, fmt.Sprintf(format, a...))
		}
		key, rest := splitAliasLine(l.Text)
		if err := checkAliasKey(key); err != nil {
			return fileAliases{}, fail("%q: %v", key, err)
		}
		k := addrKey(key)
		if n, dup := first[k]; dup {
			return fileAliases{}, fail("%q: the address of line %d again; put all its targets on one line", key, n)
		}
		if elsewhere != nil {
			if where := elsewhere(k); where != "" {
				return fileAliases{}, fail("%q: also in %s; keep it in one of them", key, where)
			}
		}
		targets := strings.FieldsFunc(rest, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		if len(targets) == 0 {
			return fileAliases{}, fail("%q: no targets", key)
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
				return fileAliases{}, fail("%q: %v", key, err)
			}
		}
		first[k], out[k] = l.N, targets
	}
	return fileAliases{targets: out, line: first}, nil
}

// AliasesSource is one aliases_file, its name and content, for
// CheckAliasesFiles.
type AliasesSource struct {
	Path    string
	Content []byte
}

// CheckAliasesFiles reports whether files, in their order, are an
// aliases_file list the stage reads, with the error it would give at
// start (path:line: why) when they are not: a line it refuses, or a key
// in two of them. sluice import-postfix asks it before naming
// virtual_alias_maps' tables' source files as the aliases_file, so that
// the draft never holds files the stage refuses.
func CheckAliasesFiles(files ...AliasesSource) error {
	var read []fileAliases
	for _, f := range files {
		t, err := readAliases(f.Path, f.Content, func(k string) string {
			for j, o := range read {
				if n, ok := o.line[k]; ok {
					return fmt.Sprintf("%s:%d", files[j].Path, n)
				}
			}
			return ""
		})
		if err != nil {
			return err
		}
		read = append(read, t)
	}
	return nil
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
	if len(c.AliasesFile) == 0 {
		return nil
	}
	f, err := openAliasFiles(c.AliasesFile, p.aliases, p.logger(), p.fileNow)
	if err != nil {
		return err
	}
	p.aliasFile = f
	return nil
}

// logger is where the stage warns of a table file not read again.
func (p *Plugin) logger() *slog.Logger {
	if p.log != nil {
		return p.log
	}
	return sdk.Logger()
}

// aliasTargets returns the targets of key (an addrKey, or "@domain"):
// the table's, else the files' as last read well.
func (p *Plugin) aliasTargets(key string) ([]string, bool) {
	if t, ok := p.aliases[key]; ok {
		return t, true
	}
	if p.aliasFile == nil {
		return nil, false
	}
	return p.aliasFile.targets(key)
}

// aliasTrouble is what a trace adds while an aliases_file's latest
// content could not be read: "" when it was, or without a file.
func (p *Plugin) aliasTrouble() string {
	if p.aliasFile == nil {
		return ""
	}
	return p.aliasFile.trouble()
}
