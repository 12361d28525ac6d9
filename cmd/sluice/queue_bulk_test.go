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
