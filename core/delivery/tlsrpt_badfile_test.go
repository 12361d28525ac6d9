package delivery

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-mta/sluice/core/config"
)

// TestTLSRPTBadFileSetAside: saved counts that cannot be read (not JSON,
// a later version, a read that fails) do not stop the start: they are
// set aside as tlsrpt.json.bad, an error line names the file, counting
// starts afresh and the next save is read back. When the file cannot be
// set aside either, the line says so rather than naming a .bad that is
// not there.
func TestTLSRPTBadFileSetAside(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		blockBad      bool // a directory in the .bad's place
	}{
		{"not JSON", "{half", false},
		{"a later version", `{"version":2,"days":{}}`, false},
		{"a read that fails", "", false},
		{"cannot be set aside", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			path := filepath.Join(t.TempDir(), "tlsrpt.json")
			if tc.content != "" {
				if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
					t.Fatal(err)
				}
			} else if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.blockBad {
				if err := os.MkdirAll(filepath.Join(path+".bad", "x"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			var logged bytes.Buffer
			r := NewTLSReports(TLSReportOptions{
				Identity: config.TLSReporting{TLSRPT: true}.Identity("mta.sluice.test"),
				Hostname: "mta.sluice.test", Path: path, Clock: h.clock.Now,
				Logger: slog.New(slog.NewJSONHandler(&logged, nil)),
			})
			var rec map[string]any
			if err := json.Unmarshal(logged.Bytes(), &rec); err != nil || rec["level"] != "ERROR" || rec["file"] != path {
				t.Fatalf("logged %s (%v): want an error line naming %s", logged.Bytes(), err, path)
			}
			if tc.blockBad {
				if rec["moved_to"] != nil || rec["set_aside"] == nil {
					t.Errorf("logged %v: the file was not set aside", rec)
				}
				return
			}
			if rec["moved_to"] != path+".bad" {
				t.Errorf("logged %v: moved_to should name %s.bad", rec, path)
			}
			if tc.content != "" {
				if b, err := os.ReadFile(path + ".bad"); err != nil || string(b) != tc.content {
					t.Errorf("set aside %q, %v", b, err)
				}
			} else if fi, err := os.Stat(path + ".bad"); err != nil || !fi.IsDir() {
				t.Errorf("the directory not set aside: %v", err)
			}
			p := newRPTPolicy(rptTypeNone, "dest.test", nil, nil)
			r.add(p, nil)
			r.save()
			again := NewTLSReports(TLSReportOptions{Identity: r.opt.Identity, Path: path, Clock: h.clock.Now})
			if res := onlyResult(t, todays(t, again)); res.Summary.Success != 1 {
				t.Errorf("after a restart %+v", res.Summary)
			}
		})
	}
}
