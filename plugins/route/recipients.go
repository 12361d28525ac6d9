package route

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// recipients is the list of users that exist behind a rule: its
// `recipients` and the lines of its `recipients_file`. The file is read
// again when it changes on disk, as [auth] users_file is: a reload keeps
// the plugin of an unchanged [stage.config] running, so a list read only
// at start would never see a user added to the file.
type recipients struct {
	fixed map[string]bool // the config's entries, as addrKey has them
	path  string          // recipients_file; "" for none

	mu   sync.Mutex
	file map[string]bool // the file's entries as last read well
	seen os.FileInfo     // the file as last read, well or not
	err  error           // the last failed read: the list read before stays
}

func newRecipients(list []string, path string) (*recipients, error) {
	r := &recipients{fixed: map[string]bool{}, path: path}
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
		if _, err := r.current(); err != nil {
			return nil, fmt.Errorf("recipients_file: %w", err)
		}
	}
	return r, nil
}

// contains reports whether one of keys is listed; err is why the file's
// latest content could not be read, if it could not, for the log.
func (r *recipients) contains(keys []string) (found bool, err error) {
	file, err := r.current()
	for _, k := range keys {
		if r.fixed[k] || file[k] {
			return true, err
		}
	}
	return false, err
}

// current returns the file's entries, reading it again first if it
// changed since it was last read.
func (r *recipients) current() (map[string]bool, error) {
	if r.path == "" {
		return nil, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st, err := os.Stat(r.path)
	if err != nil {
		r.seen, r.err = nil, err
		return r.file, r.err
	}
	if sameFile(r.seen, st) {
		return r.file, r.err
	}
	r.seen = st
	file, err := readList(r.path)
	if err != nil {
		r.err = err
		return r.file, r.err
	}
	r.file, r.err = file, nil
	return r.file, nil
}

// sameFile reports whether b is the file a was: same inode (a file
// renamed over it is another), modification time and size.
func sameFile(a, b os.FileInfo) bool {
	return a != nil && os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// readList reads a recipients_file: one address or local part a line,
// "#" starting a comment. A line that can be no recipient is an error
// with the file's name and line.
func readList(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
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
