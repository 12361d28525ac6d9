package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
)

// memSuspender keeps suspensions in memory, at a fixed clock.
type memSuspender struct {
	mu  sync.Mutex
	now time.Time
	m   map[string]admin.Suspension
}

func (s *memSuspender) Suspend(domain string, d time.Duration, reason string) (admin.Suspension, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x := admin.Suspension{Domain: domain, Since: s.now, Reason: reason}
	if d > 0 {
		x.Until = s.now.Add(d)
	}
	s.m[domain] = x
	return x, nil
}

func (s *memSuspender) Resume(domain string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[domain]
	delete(s.m, domain)
	return ok, nil
}

func (s *memSuspender) List() []admin.Suspension {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []admin.Suspension
	for _, d := range []string{"a.example", "xn--bcher-kva.example"} {
		if x, ok := s.m[d]; ok {
			out = append(out, x)
		}
	}
	return out
}

// queue suspend, suspended and resume through the admin API: the domain
// as the daemon folds it, the list's columns, and the refusals before the
// daemon is asked.
func TestQueueSuspendCLI(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &memSuspender{now: now, m: map[string]admin.Suspension{}}
	srv := httptest.NewServer(admin.Handler(admin.Options{Suspensions: s, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	url := srv.URL

	if out := runCLI(t, "queue", "suspended", "--admin", url); out != "no domain suspended\n" {
		t.Fatalf("queue suspended, none: %q", out)
	}
	if out := runCLI(t, "queue", "suspend", "--admin", url, "--domain", "A.example.", "--reason", "throttled"); out != "delivery to a.example suspended until resumed\n" {
		t.Fatalf("queue suspend: %q", out)
	}
	if out := runCLI(t, "queue", "suspend", "--admin", url, "--domain", "bücher.example", "--for", "1d"); out != "delivery to xn--bcher-kva.example suspended until 2026-03-02T12:00:00Z\n" {
		t.Fatalf("queue suspend --for 1d: %q", out)
	}
	want := "DOMAIN                         UNTIL                     REASON\n" +
		"a.example                      resumed                   throttled\n" +
		"xn--bcher-kva.example          2026-03-02T12:00:00Z      \n"
	if out := runCLI(t, "queue", "suspended", "--admin", url); out != want {
		t.Fatalf("queue suspended:\n%s\nwant:\n%s", out, want)
	}
	var l admin.SuspendedList
	if out := runCLI(t, "queue", "suspended", "--admin", url, "--json"); json.Unmarshal([]byte(out), &l) != nil || len(l.Suspended) != 2 || l.Suspended[0].Reason != "throttled" {
		t.Fatalf("queue suspended --json: %s", out)
	}
	if out := runCLI(t, "queue", "resume", "--admin", url, "--domain", "a.EXAMPLE"); out != "delivery to a.example resumed, its mail scheduled now\n" {
		t.Fatalf("queue resume: %q", out)
	}
	for _, c := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"resume", "--domain", "a.example"}, "not suspended"},
		{[]string{"suspend"}, "--domain"},
		{[]string{"resume"}, "--domain"},
		{[]string{"suspend", "--domain", "a@example.org"}, "--domain"},
		{[]string{"suspend", "--domain", "a.example", "--for", "soon"}, "--for"},
		{[]string{"suspend", "--domain", "a.example", "--for", "0s"}, "--for"},
		{[]string{"suspend", "--domain", "a.example", "--reason", "a\nb"}, "--reason"},
		{[]string{"resume", "--domain", "a.example", "--for", "1h"}, "--for"},
		{[]string{"flush", "--reason", "x"}, "--reason"},
		{[]string{"suspended", "extra"}, "suspended"},
	} {
		var o, e bytes.Buffer
		code := run(append([]string{"queue", "--admin", url}, c.args...), nil, &o, &e)
		if code != 1 || strings.Count(e.String(), "\n") != 1 || !strings.Contains(e.String(), c.want) {
			t.Errorf("queue %q: exit %d, stderr %q; want exit 1 and one line naming %s", c.args, code, e.String(), c.want)
		}
	}
}
