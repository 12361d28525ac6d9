package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

// makeStateDir creates the state directory of plugin stage name,
// DATA_DIR/plugins/NAME (sdk.Config.StateDir), mode 0700: what a plugin
// keeps there (counts, a history) is the stage's alone. It survives
// restarts and upgrades, and a stage renamed gets a new one.
func makeStateDir(dataDir, name string) (string, error) {
	dir := filepath.Join(dataDir, "plugins", stateDirName(name))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	// MkdirAll leaves one there already (made by hand, restored from a
	// backup) with the mode it has: made 0700 here, and one the daemon's user does not own
	// fails here, at start, rather than the plugin's first write.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, nil
}

// stateDirName is stage name as one path element: as it is when made of
// letters, digits, "-", "_" and "." (not first), each other byte (a "/",
// a "%", a leading ".") as %XX otherwise, so that no name climbs out of
// plugins/ and two names never share a directory. One too long for a
// file name is cut and ends with "%%" and its SHA-256.
func stateDirName(name string) string {
	const hexDigits = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' && i > 0 {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
	}
	if len(b) == 0 {
		return "%"
	}
	if len(b) > 200 {
		sum := sha256.Sum256([]byte(name))
		// "%%" occurs in no escaped name: a cut one is no other's.
		b = append(b[:120:120], '%', '%')
		b = append(b, hex.EncodeToString(sum[:])...)
	}
	return string(b)
}
