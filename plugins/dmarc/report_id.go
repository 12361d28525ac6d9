package dmarc

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/internal/atomicfile"
	"github.com/sluice-mta/sluice/internal/statefile"
)

// reportIDKeyFile holds the state directory's random key, part of every
// Report-ID the stage makes: two dmarc stages (one per listener, or one
// per host of a cluster) reporting for the same submitter would
// otherwise name their reports of a domain and day alike, and a
// receiver, deduplicating on the ID, would keep one of them only.
const reportIDKeyFile = "report-id-key"

// reportIDKey reads the state directory's key, or makes one: 16 random
// bytes in hex. It lives as long as the history beside it, so a report
// sent again (a retry, a restart) is made with the same key and ID. A
// key that cannot be read (damaged by a disk error or by something else
// writing there, or a read that fails) is set aside as
// report-id-key.bad, with a warning naming it, and replaced: the stage,
// and with it the daemon's start or a reload, must not stop for it. A
// new key is random like the old, so no ID is another stage's; the IDs
// of reports not yet sent change, which is harmless, as none was seen
// under the old (a retry of one that was delivered after all may be
// counted twice, as a report is a statistic).
func reportIDKey(dir string, log *slog.Logger) (string, error) {
	path := filepath.Join(dir, reportIDKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		k := strings.TrimSpace(string(b))
		if _, herr := hex.DecodeString(k); herr == nil && len(k) == 32 {
			return k, nil
		}
		err = errors.New("not a key of 32 hex digits")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		statefile.SetAside(log, "dmarc reports: the report ID key cannot be read; making a new one", path, err)
	}
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	k := hex.EncodeToString(raw[:])
	// Replaced whole (internal/atomicfile): a crash leaves no half key.
	if err := atomicfile.Write(path, []byte(k+"\n"), 0o600); err != nil {
		return "", err
	}
	return k, nil
}

// reportID names a report the same way each time it is made, so that a
// report sent again after a crash is known as a duplicate (RFC 7489
// §7.2.1.1: Report-ID lets the domain owner ignore duplicates), and
// differently from another stage's report of the same domain and day
// (key, reportIDKey). It is a msg-id's id-left "@" id-right, the
// Subject's Report-ID being a msg-id.
func reportID(key, submitter, domain string, day time.Time) string {
	h := sha256.Sum256([]byte(key + "!" + submitter + "!" + domain + "!" + day.Format(dayLayout)))
	return day.Format("20060102") + "." + hex.EncodeToString(h[:8]) + "@" + submitter
}
