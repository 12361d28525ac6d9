package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mta/sluice/internal/atomicfile"
)

// Users is the content of a users file: one "user:hash" a line; blank lines
// and lines starting with "#" are ignored.
type Users struct {
	hashes map[string]string
}

// NewUsers returns an empty database.
func NewUsers() *Users { return &Users{hashes: map[string]string{}} }

// ParseUsers reads a users file's text; file names errors as "file:line".
func ParseUsers(file string, data []byte) (*Users, error) {
	u := NewUsers()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want user:hash", file, n)
		}
		if err := ValidName(name); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, n, err)
		}
		if err := CheckHash(hash); err != nil {
			return nil, fmt.Errorf("%s:%d: user %s: %v", file, n, name, err)
		}
		if _, dup := u.hashes[name]; dup {
			return nil, fmt.Errorf("%s:%d: user %s listed twice", file, n, name)
		}
		u.hashes[name] = hash
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return u, nil
}

// LoadUsers reads a users file; a missing file is an empty database.
func LoadUsers(path string) (*Users, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return NewUsers(), nil
	}
	if err != nil {
		return nil, err
	}
	return ParseUsers(path, data)
}

// ValidName checks a user name: not empty, at most 255 bytes, no ":",
// white space or control characters, and not "*", which [auth.senders]
// takes for every user: a user of that name, in a users file or a
// Dovecot answer, would have what the site lists for itself be everyone's
// (an [auth.senders] "*" written for that one user).
func ValidName(name string) error {
	if name == "" || len(name) > 255 {
		return errors.New("user name must be 1 to 255 bytes")
	}
	if name == everyUser {
		return errors.New(`user name "*" is [auth.senders]' every user, no user's name`)
	}
	for _, r := range name {
		if r == ':' || r <= ' ' || r == 0x7f {
			return fmt.Errorf("user name %q may not hold ':', spaces or control characters", name)
		}
	}
	return nil
}

// Set adds or replaces a user's hash.
func (u *Users) Set(name, hash string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	if err := CheckHash(hash); err != nil {
		return err
	}
	u.hashes[name] = hash
	return nil
}

// Delete removes a user; it reports whether the user existed.
func (u *Users) Delete(name string) bool {
	_, ok := u.hashes[name]
	delete(u.hashes, name)
	return ok
}

// Names returns the users, sorted.
func (u *Users) Names() []string {
	out := make([]string, 0, len(u.hashes))
	for n := range u.hashes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.hashes) }

// Verify reports whether password is the user's. For an unknown user it
// still hashes (against another user's hash, so at the same cost) and
// fails: the time taken does not tell which names exist.
func (u *Users) Verify(name, password string) bool {
	hash, ok := u.hashes[name]
	if !ok {
		for _, n := range u.Names()[:min(1, len(u.hashes))] {
			Verify(u.hashes[n], password)
		}
		return false
	}
	return Verify(hash, password)
}

// Bytes renders the file, users sorted.
func (u *Users) Bytes() []byte {
	var b bytes.Buffer
	for _, n := range u.Names() {
		b.WriteString(n + ":" + u.hashes[n] + "\n")
	}
	return b.Bytes()
}

// WriteFile replaces path atomically (a temporary file in the same
// directory, synced, then renamed over it). A new file gets mode 0600; one
// replaced keeps its owner, group and mode, since a daemon running as an
// unprivileged user reads it through them (root:sluice 0640), and a
// root-owned 0600 copy made by "sluice user add" would shut it out.
func (u *Users) WriteFile(path string) error {
	return atomicfile.WriteKeeping(path, u.Bytes(), 0o600)
}

// File is a users file that is read again when it changes on disk, so
// "sluice user add" takes effect without a restart. It is safe for
// concurrent use.
type File struct {
	path string

	mu    sync.Mutex
	users *Users
	mtime time.Time
	size  int64
	err   error // the last failed reload: the previous users stay in force
}

// OpenFile loads path (missing: no users yet) and returns the File.
func OpenFile(path string) (*File, error) {
	f := &File{path: path}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Path is the file's name.
func (f *File) Path() string { return f.path }

// Verify checks a password against the current content of the file.
func (f *File) Verify(name, password string) bool {
	return f.Current().Verify(name, password)
}

// Current returns the users, reloading the file first if it changed. When
// a reload fails, the last good content stays in force (see Err); before
// any good content, nobody.
func (f *File) Current() *Users {
	f.mu.Lock()
	defer f.mu.Unlock()
	_ = f.reloadLocked()
	if f.users == nil {
		return NewUsers()
	}
	return f.users
}

// Err is the error of the last reload, if it failed.
func (f *File) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

func (f *File) reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reloadLocked()
}

func (f *File) reloadLocked() error {
	st, err := os.Stat(f.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f.users, f.mtime, f.size, f.err = NewUsers(), time.Time{}, -1, nil
		return nil
	case err != nil:
		f.err = err
		return err
	}
	if f.users != nil && st.ModTime().Equal(f.mtime) && st.Size() == f.size {
		return nil
	}
	u, err := LoadUsers(f.path)
	if err != nil {
		f.err = err
		return err
	}
	f.users, f.mtime, f.size, f.err = u, st.ModTime(), st.Size(), nil
	return nil
}
