package route

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/internal/tablefile"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestSRSSecretsFileTurnsBad: a secrets_file emptied or removed while the
// stage runs leaves the secrets read before in force, the trace of each
// SRS decision says that the file could not be read again, so that a
// rotation that never took is seen, and one warning names the file;
// once the file is good again, it signs and the trace no longer says so.
// Emptied in place, or written anew after it was removed, it is read
// once left alone for tablefile.Settle.
func TestSRSSecretsFileTurnsBad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs.secrets")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLocalDomains, "example.org")
	clock := &fileClock{}
	lines := &logLines{}
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }, fileNow: clock.now, log: slog.New(slog.NewJSONHandler(lines, nil))}, `{
	  "srs": {"domain": "example.org", "secrets_file": "`+path+`"},
	  "aliases": {"info@example.org": ["alice@gmail.test"]}}`)
	const signed = "SRS0=2j0N=G3=origin.test=alice@example.org"
	const forged = "SRS0=xxxx=G3=origin.test=alice@example.org"
	bad := map[string]func() error{
		"emptied": func() error {
			mtime := writeInPlace(t, path, "")
			clock.set(mtime.Add(tablefile.Settle - time.Millisecond))
			if _, v := dataEnvelope(t, h, "alice@origin.test", "info@example.org"); strings.Contains(v.Reason, "failed") {
				t.Errorf("emptied just now: trace %q, want the file not read yet", v.Reason)
			}
			clock.set(mtime.Add(tablefile.Settle))
			return nil
		},
		"removed": func() error { return os.Remove(path) },
	}
	for _, name := range []string{"emptied", "removed"} {
		if err := bad[name](); err != nil {
			t.Fatal(err)
		}
		env, v := dataEnvelope(t, h, "alice@origin.test", "info@example.org")
		if env.MailFrom != signed || !strings.Contains(v.Reason, "secrets_file as last read: reading it again failed") {
			t.Errorf("%s: sender <%s>, trace %q; want <%s> and the failure said", name, env.MailFrom, v.Reason, signed)
		}
		if v := h.Rcpt(sdktest.NewTxn(""), signed); v.Action != sdk.ActionContinue {
			t.Errorf("%s: the old secret's address refused: %v", name, v.Reply)
		}
		if v := h.Rcpt(sdktest.NewTxn(""), forged); v.Action != sdk.ActionReject || !strings.Contains(v.Reason, "reading it again failed") {
			t.Errorf("%s: forged: %v, trace %q", name, v.Action, v.Reason)
		}
		if recs := lines.Take(t); len(recs) != 1 || recs[0]["level"] != "WARN" || recs[0]["file"] != path {
			t.Errorf("%s: log %v, want one warning naming the file", name, recs)
		}
	}
	clock.set(writeInPlace(t, path, "n3w\ns3cret\n").Add(tablefile.Settle))
	env, v := dataEnvelope(t, h, "alice@origin.test", "info@example.org")
	if want := "SRS0=" + srsHashOf("n3w", "G3", "origin.test", "alice") + "=G3=origin.test=alice@example.org"; env.MailFrom != want || strings.Contains(v.Reason, "reading it again failed") {
		t.Errorf("mended: sender <%s>, trace %q; want <%s>", env.MailFrom, v.Reason, want)
	}
}
