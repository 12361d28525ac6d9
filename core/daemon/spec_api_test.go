package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// TestAdminAPIAsSpec: each path and method SPEC's "Admin API" names
// answers on a running daemon, in the JSON names SPEC gives:
// GET /metrics (Prometheus text), GET /api/queue, GET /api/queue/{id},
// POST /api/queue/{id}/{retry|hold|release|delete|bounce}, GET
// /api/pipeline (each stage: kind, state, calls, errors, restarts,
// latency p50/p99), GET /api/trace/{id} (each stage's verdict, changes,
// latency), and the dashboard at /.
func TestAdminAPIAsSpec(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	sink.OnData(func(int) error { return testlib.Temp }) // the messages stay queued
	milter := startMilter(t, nil, "[m]")
	d := startDaemon(t, relayTo(sink)+
		actorStage(t, "tagger", `{"data": {"*": {"edits": [{"op": "add_header", "name": "X-Tag", "value": "on"}]}}}`, "")+
		milterStage("chained", milter, ""))
	var ids []string
	for range 2 {
		r, err := send(t, d, "spec")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, queuedID(t, r))
	}
	base := "http://" + d.AdminAddr().String()
	call := func(method, path string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	getJSON := func(path string, v any) {
		t.Helper()
		code, ctype, body := call("GET", path)
		if code != 200 || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal([]byte(body), v) != nil {
			t.Fatalf("GET %s: %d %s\n%s", path, code, ctype, body)
		}
	}

	if code, ctype, body := call("GET", "/metrics"); code != 200 || !strings.HasPrefix(ctype, "text/plain") ||
		!strings.Contains(body, "# TYPE ") || !strings.Contains(body, "\nsluice_") {
		t.Errorf("GET /metrics: %d %s, want Prometheus text with sluice_ metrics", code, ctype)
	}
	if code, ctype, body := call("GET", "/"); code != 200 || !strings.HasPrefix(ctype, "text/html") || !strings.Contains(body, "<title>Sluice</title>") {
		t.Errorf("GET /: %d %s, want the dashboard", code, ctype)
	}
	var list struct {
		Messages []struct {
			ID string `json:"id"`
		} `json:"messages"`
	}
	getJSON("/api/queue", &list)
	if len(list.Messages) != 2 || list.Messages[0].ID != ids[0] || list.Messages[1].ID != ids[1] {
		t.Errorf("GET /api/queue: %+v, want %q", list.Messages, ids)
	}
	var msg map[string]any
	getJSON("/api/queue/"+ids[0], &msg)
	if msg["id"] != ids[0] || msg["state"] != "active" {
		t.Errorf("GET /api/queue/{id}: %v", msg)
	}
	var trace struct {
		ID      string `json:"id"`
		Entries []struct {
			Stage  string   `json:"stage"`
			Hook   string   `json:"hook"`
			Action string   `json:"action"`
			Edits  []string `json:"edits"`
			// Latency is the call's, in milliseconds.
			Latency *float64 `json:"latency_ms"`
		} `json:"entries"`
	}
	getJSON("/api/trace/"+ids[0], &trace)
	var tagged, milterData bool
	for _, e := range trace.Entries {
		if e.Latency == nil {
			t.Errorf("GET /api/trace/{id}: entry %+v has no latency_ms", e)
		}
		tagged = tagged || e.Stage == "tagger" && e.Hook == "data" && strings.Contains(strings.Join(e.Edits, "\n"), "X-Tag")
		milterData = milterData || e.Stage == "chained" && e.Hook == "data"
	}
	if trace.ID != ids[0] || !tagged || !milterData {
		t.Errorf("GET /api/trace/{id}: %+v, want the tagger's edit and the milter's data entry", trace)
	}

	var pipe struct {
		Stages []map[string]any `json:"stages"`
	}
	getJSON("/api/pipeline", &pipe)
	if len(pipe.Stages) != 2 {
		t.Fatalf("GET /api/pipeline: %v, want the two stages", pipe.Stages)
	}
	for i, want := range []struct{ name, kind string }{{"tagger", "plugin"}, {"chained", "milter"}} {
		s := pipe.Stages[i]
		if s["name"] != want.name || s["kind"] != want.kind || s["state"] != "running" {
			t.Errorf("/api/pipeline stage %d: %v, want %s, kind %s, running", i+1, s, want.name, want.kind)
		}
		for _, key := range []string{"calls", "errors", "restarts"} {
			if _, ok := s[key].(float64); !ok {
				t.Errorf("/api/pipeline stage %s: %s is %v, want a number", want.name, key, s[key])
			}
		}
		if calls, _ := s["calls"].(float64); calls < 2 {
			t.Errorf("/api/pipeline stage %s: %v calls after two messages", want.name, s["calls"])
		}
		for _, key := range []string{"latency_p50", "latency_p99"} {
			if v, _ := s[key].(string); v == "" || v == "0s" {
				t.Errorf("/api/pipeline stage %s: %s is %v, want the duration of its calls", want.name, key, s[key])
			}
		}
	}

	for _, step := range []struct{ id, action, state string }{
		{ids[0], "hold", "held"}, {ids[0], "release", "active"}, {ids[0], "retry", "active"},
		{ids[0], "delete", ""}, {ids[1], "bounce", ""},
	} {
		path := "/api/queue/" + step.id + "/" + step.action
		if code, _, _ := call("GET", path); code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405 (POST only)", path, code)
		}
		code, _, body := call("POST", path)
		var r map[string]any
		if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r["id"] != step.id || r["action"] != step.action {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
		code, _, body = call("GET", "/api/queue/"+step.id)
		switch {
		case step.state == "" && code != http.StatusNotFound:
			t.Errorf("after POST %s: GET /api/queue/{id} %d %s, want 404", path, code, body)
		case step.state != "" && !strings.Contains(body, `"state": "`+step.state+`"`):
			t.Errorf("after POST %s: %s, want state %s", path, body, step.state)
		}
	}
}
