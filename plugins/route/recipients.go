package route

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/internal/tablefile"
)

// recipients is the list of users that exist behind a rule: its
// `recipients` and the lines of its `recipients_file`. The file is read
// again when it changes on disk, as [auth] users_file and an
// aliases_file are (tablefile): a reload keeps the plugin of an
// unchanged [stage.config] running, so a list read only at start would
// never see a user added to the file. A file written in place is read
// once it settled, and one that turns bad keeps the list read before,
// logged once.
type recipients struct {
	fixed map[string]bool                  // the config's entries, as addrKey has them
	file  *tablefile.File[map[string]bool] // recipients_file; nil for none
}

// newRecipients reads list and the file at path ("" for none); log is
// told of a file that could not be read again, now (nil: time.Now) is
// the clock a file written in place settles by.
func newRecipients(list []string, path string, log *slog.Logger, now func() time.Time) (*recipients, error) {
	r := &recipients{fixed: map[string]bool{}}
	for _, e := range list {
		e = strings.TrimSpace(e)
		if err := checkEntry(e); err != nil {
			return nil, fmt.Errorf("recipients: %w", err)
		}
		r.fixed[addrKey(e)] = true
	}
	if path != "" {
		// Missing or wrong at start is an error (and check-config's);
		// later, a bad file leaves the list read before in force.
		warn := func(err error) {
			log.Warn("route: recipients_file not read again: the list read before stays in force", "file", path, "error", err.Error())
		}
		f, err := tablefile.Open(path, func(b []byte) (map[string]bool, error) { return readList(path, b) }, warn)
		if err != nil {
			return nil, fmt.Errorf("recipients_file: %w", err)
		}
		f.Now = now
		r.file = f
	}
	return r, nil
}

// contains reports whether one of keys is listed; err is why the file's
// latest content could not be read, if it could not, for the log.
func (r *recipients) contains(keys []string) (found bool, err error) {
	var file map[string]bool
	if r.file != nil {
		file, err = r.file.Current()
	}
	for _, k := range keys {
		if r.fixed[k] || file[k] {
			return true, err
		}
	}
	return false, err
}

// readList reads a recipients_file's content b: one address or local
// part a line, "#" starting a comment. A line that can be no recipient
// is an error with the file's name (path) and line.
func readList(path string, b []byte) (map[string]bool, error) {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if err := checkEntry(line); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out[addrKey(line)] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// checkEntry refuses an entry that no recipient can match, so that a
// list taken from a Postfix map ("alice@example.org OK", "@example.org
// OK") is an error at start rather than a rule refusing everyone at RCPT.
func checkEntry(e string) error {
	switch {
	case e == "":
		return errors.New("an empty entry")
	case strings.HasPrefix(e, "@"):
		return fmt.Errorf("%q is a whole domain: a rule without recipients takes every address", e)
	case strings.HasSuffix(e, "@"):
		return fmt.Errorf("%q has no domain", e)
	case strings.ContainsAny(e, " \t") && !strings.HasPrefix(e, `"`):
		// A quoted local part ("a b"@example.org) may hold a space.
		return fmt.Errorf("%q: want one address or local part (of a Postfix map's \"key value\" line, keep the key)", e)
	}
	return nil
}
