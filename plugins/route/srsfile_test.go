package route

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestSRSSecretsFileTurnsBad: a secrets_file emptied or removed while the
// stage runs leaves the secrets read before in force, and the trace of
// each SRS decision says that the file could not be read again, so that a
// rotation that never took is seen; once the file is good again, it
// signs and the trace no longer says so.
func TestSRSSecretsFileTurnsBad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "srs.secrets")
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvLocalDomains, "example.org")
	h := sdktest.New(t, &Plugin{now: func() time.Time { return refTime }}, `{
	  "srs": {"domain": "example.org", "secrets_file": "`+path+`"},
	  "aliases": {"info@example.org": ["alice@gmail.test"]}}`)
	const signed = "SRS0=2j0N=G3=origin.test=alice@example.org"
	const forged = "SRS0=xxxx=G3=origin.test=alice@example.org"
	bad := map[string]func() error{
		"emptied": func() error { return os.WriteFile(path, nil, 0o600) },
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
	}
	if err := os.WriteFile(path, []byte("n3w\ns3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env, v := dataEnvelope(t, h, "alice@origin.test", "info@example.org")
	if want := "SRS0=" + srsHashOf("n3w", "G3", "origin.test", "alice") + "=G3=origin.test=alice@example.org"; env.MailFrom != want || strings.Contains(v.Reason, "reading it again failed") {
		t.Errorf("mended: sender <%s>, trace %q; want <%s>", env.MailFrom, v.Reason, want)
	}
}
