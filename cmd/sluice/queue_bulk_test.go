package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/queue"
)

// Actions on several messages, as postsuper takes them: IDs as arguments,
// "-" for IDs on stdin (a queue listing piped in: its header and summary
// lines are skipped), ALL with or without --state. A message gone
// meanwhile is counted, not an error; a refusal is named and fails.
func TestQueueActionsOnSeveralMessages(t *testing.T) {
	url, ids, q, _ := adminServer(t, 6)
	cli := func(stdin string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(append([]string{"queue"}, append(args, "--admin", url)...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	state := func(id string) envelope.State {
		m, err := q.Get(id)
		if err == queue.ErrNotFound {
			return "gone"
		}
		if err != nil {
			t.Fatal(err)
		}
		return m.State
	}

	if code, out, e := cli("", "hold", ids[0], ids[1], ids[0]); code != 0 || out != "hold: 2 messages ok\n" {
		t.Fatalf("hold two: exit %d, %q %q", code, out, e)
	}
	if state(ids[0]) != envelope.StateHeld || state(ids[1]) != envelope.StateHeld || state(ids[2]) != envelope.StateActive {
		t.Fatalf("states after hold: %s %s %s", state(ids[0]), state(ids[1]), state(ids[2]))
	}

	listing := runCLI(t, "queue", "list", "--admin", url, "--state", "held")
	code, out, e := cli(listing, "delete", "-")
	if code != 0 || !strings.HasPrefix(out, "delete: 2 messages ok (") || !strings.Contains(out, "input lines without a message ID skipped") {
		t.Fatalf("delete - from a listing: exit %d, %q %q\nlisting:\n%s", code, out, e, listing)
	}
	for i, want := range []envelope.State{"gone", "gone", envelope.StateActive, envelope.StateActive} {
		if got := state(ids[i]); got != want {
			t.Errorf("message %d after delete -: %s, want %s", i, got, want)
		}
	}

	if code, out, e := cli("", "delete", ids[0], ids[2]); code != 0 || out != "delete: 1 message ok, 1 no longer queued\n" {
		t.Fatalf("delete with one gone: exit %d, %q %q", code, out, e)
	}

	if code, out, e := cli("", "release", ids[3], ids[4]); code != 1 || strings.Count(out, "release refused: ") != 2 ||
		!strings.Contains(e, "queue release: 2 of 2 messages failed") {
		t.Fatalf("release of active messages: exit %d, %q %q", code, out, e)
	}

	if code, out, e := cli("", "hold", "ALL"); code != 0 || out != "hold: 3 messages ok\n" {
		t.Fatalf("hold ALL: exit %d, %q %q", code, out, e)
	}
	if code, out, e := cli("", "release", ids[3]); code != 0 || out != ids[3]+": release ok\n" {
		t.Fatalf("release one: exit %d, %q %q", code, out, e)
	}
	if code, out, e := cli("", "delete", "ALL", "--state", "held"); code != 0 || out != "delete: 2 messages ok\n" {
		t.Fatalf("delete ALL --state held: exit %d, %q %q", code, out, e)
	}
	if state(ids[3]) != envelope.StateActive || state(ids[4]) != "gone" || state(ids[5]) != "gone" {
		t.Errorf("after delete ALL --state held: %s %s %s", state(ids[3]), state(ids[4]), state(ids[5]))
	}

	for _, args := range [][]string{{"delete"}, {"delete", "NOTANID"}, {"hold", ids[3], "--state", "held"}, {"hold", ids[3], ids[4], "--json"}} {
		if code, _, e := cli("", args...); code != 1 || e == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, e)
		}
	}
}

// --from and --to select by sender and recipient, for queue list and for
// an action on ALL (exiqgrep -f and -r, piped into exim -Mrm); the line
// naming the next page repeats them quoted for the shell.
func TestQueueFromToFilters(t *testing.T) {
	url, ids, q, _ := adminServer(t, 3)
	for _, id := range ids[1:] {
		if _, err := q.Modify(id, func(m *envelope.Message) error { m.From = "spammer@bad.example"; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	out := runCLI(t, "queue", "list", "--admin", url, "--from", "@BAD.example>", "--limit", "1")
	if !strings.Contains(out, ids[1]) || strings.Contains(out, ids[0]) || strings.Contains(out, ids[2]) ||
		!strings.Contains(out, "more: sluice queue list --after "+ids[1]+" --from '@BAD.example>' (or --all)") {
		t.Fatalf("list --from, one a page:\n%s", out)
	}
	var b, e bytes.Buffer
	if code := run([]string{"queue", "delete", "ALL", "--from", "@bad.example>", "--admin", url}, strings.NewReader(""), &b, &e); code != 0 || b.String() != "delete: 2 messages ok\n" {
		t.Fatalf("delete ALL --from: exit %d, %q %q", code, b.String(), e.String())
	}
	if _, err := q.Get(ids[0]); err != nil {
		t.Fatalf("the message from another sender: %v", err)
	}
	if out := runCLI(t, "queue", "list", "--admin", url, "--to", "@example.org>"); !strings.HasPrefix(out, "0 messages") {
		t.Fatalf("list --to a domain nobody is sent to:\n%s", out)
	}
	b.Reset()
	e.Reset()
	if code := run([]string{"queue", "hold", ids[0], "--to", "x", "--admin", url}, strings.NewReader(""), &b, &e); code != 1 || !strings.Contains(e.String(), "--to is for queue list") {
		t.Fatalf("hold ID --to: exit %d, %q", code, e.String())
	}
	// An empty filter (a script's unset variable) is refused, not "all".
	e.Reset()
	if code := run([]string{"queue", "delete", "ALL", "--from", "", "--admin", url}, strings.NewReader(""), &b, &e); code != 1 || !strings.Contains(e.String(), "--from needs a non-empty TEXT") {
		t.Fatalf("delete ALL --from '': exit %d, %q", code, e.String())
	}
	if _, err := q.Get(ids[0]); err != nil {
		t.Fatalf("after delete ALL --from '': %v", err)
	}
}
