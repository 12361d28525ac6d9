package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// countMailer takes every message.
type countMailer struct{ n int }

func (m *countMailer) Send(context.Context, sdk.OutgoingMessage) (string, error) {
	m.n++
	return "Q1", nil
}

// A replied.json that cannot be read (damaged by a disk error or by
// something else writing there) does not stop the stage: a warning names
// it, it is set aside as replied.json.bad for a look where it was lost to
// the next save, and the stage answers and writes a record the next
// start reads.
func TestBadStateSetAside(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, stateFile)
	if err := os.WriteFile(path, []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	m := &countMailer{}
	p := &Autoreply{now: func() time.Time { return t0 }, log: slog.New(slog.NewJSONHandler(&logged, nil))}
	if err := p.Configure(context.Background(), sdk.Config{Stage: "autoreply", JSON: []byte(cfg), Mailer: m, StateDir: dir}); err != nil {
		t.Fatalf("the stage did not start: %v", err)
	}
	var rec map[string]any
	if err := json.Unmarshal(logged.Bytes(), &rec); err != nil || rec["level"] != "WARN" || rec["file"] != path || rec["set_aside"] != path+".bad" {
		t.Errorf("logged %s (%v): want a warning naming %s and its .bad", logged.Bytes(), err, path)
	}
	if b, err := os.ReadFile(path + ".bad"); err != nil || string(b) != "{half" {
		t.Errorf("set aside %q, %v", b, err)
	}

	raw, err := sdktest.ParseMessage(msg())
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Data(context.Background(), bob(), raw)
	if err != nil || !strings.HasPrefix(v.Reason, "autoreply: replied for alice@example.org") || m.n != 1 {
		t.Fatalf("verdict %+v, %v; %d sent", v, err, m.n)
	}
	r := &responder{address: "alice@example.org", days: 7}
	if s := loadReplied(dir, map[string]*responder{r.address: r}, t0, quiet); s.claim(r, "bob@example.net", t0) {
		t.Error("the record written after the set-aside does not keep bob quiet")
	}
	if b, _ := os.ReadFile(path + ".bad"); string(b) != "{half" {
		t.Errorf("the save replaced the file set aside: %q", b)
	}
}
