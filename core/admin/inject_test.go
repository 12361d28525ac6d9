package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluice-mta/sluice/core/reply"
)

// post sends body to url with POST and returns the status, the Allow
// header and the body.
func post(t *testing.T, method, url, token, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Allow"), string(b)
}

// POST /api/inject reads KumoMTA's field names, a recipient as a string
// or as {"email": …}, and hands Options.Inject the envelope and the
// content as given; its answer is the JSON body. Each malformed request
// is 400 before Inject is called, a body or content too large 413, a GET
// 405 with Allow: POST, and the token guards it as every other route.
func TestInjectRequests(t *testing.T) {
	var got []Injection
	inject := func(_ context.Context, in Injection) (*Injected, error) {
		got = append(got, in)
		return &Injected{ID: "0123456789ABCDEFGHJK", Accepted: in.Recipients}, nil
	}
	srv := httptest.NewServer(Handler(Options{Inject: inject, MaxMessageSize: func() int64 { return 1000 }, Token: "s3cret"}))
	t.Cleanup(srv.Close)
	url := srv.URL + "/api/inject"

	ok := `{"envelope_sender": "a@example.org", "recipients": ["b@example.net", {"email": "c@example.net", "name": "C"}], "content": "Subject: hi\n\nhello\n"}`
	code, _, body := post(t, "POST", url, "s3cret", ok)
	var res Injected
	if code != 200 || json.Unmarshal([]byte(body), &res) != nil || res.ID != "0123456789ABCDEFGHJK" || len(res.Accepted) != 2 || res.Rejected == nil {
		t.Fatalf("inject: %d %s", code, body)
	}
	if len(got) != 1 || got[0].Sender != "a@example.org" || strings.Join(got[0].Recipients, ",") != "b@example.net,c@example.net" ||
		string(got[0].Content) != "Subject: hi\n\nhello\n" {
		t.Fatalf("Inject got %+v", got)
	}
	if code, _, _ := post(t, "POST", url, "", ok); code != 401 {
		t.Fatalf("without the token: %d", code)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "x"`, "bad request body"},
		{`not json`, "bad request body"},
		{`{"recipients": ["b@example.net"], "content": "x"}`, "envelope_sender is missing"},
		{`{"envelope_sender": "", "recipients": ["b@example.net"], "content": "x"}`, "envelope_sender is missing"},
		{`{"envelope_sender": "a@example.org", "content": "x"}`, "recipients is missing or empty"},
		{`{"envelope_sender": "a@example.org", "recipients": [], "content": "x"}`, "recipients is missing or empty"},
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net"]}`, "content is missing"},
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": ""}`, "content is missing"},
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": {"subject": "hi", "text_body": "x"}}`, "content must be a string"},
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "x", "substitutions": {"name": "Bob"}}`, `unknown field \"substitutions\"`},
		{`{"envelope_sender": "a@example.org", "recipients": [{"email": "b@example.net", "substitutions": {}}], "content": "x"}`, "substitutions"},
		{`{"envelope_sender": "a@example.org", "recipients": [{"name": "B"}], "content": "x"}`, `needs \"email\"`},
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net>\r\nRCPT TO:<c@example.net"], "content": "x"}`, "recipients[0]"},
		{`{"envelope_sender": "a@example.org", "recipients": ["bob"], "content": "x"}`, "recipients[0]"},
		{`{"envelope_sender": "a@", "recipients": ["b@example.net"], "content": "x"}`, "envelope_sender"},
		{`{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "x"} {}`, "text after the JSON object"},
	} {
		code, _, body := post(t, "POST", url, "s3cret", tc.body)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.body, code, body, tc.want)
		}
	}
	// Content over max_message_size (1000), and a body over twice it
	// and InjectMargin.
	big := `{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "` + strings.Repeat("x", 1001) + `"}`
	if code, _, body := post(t, "POST", url, "s3cret", big); code != 413 || !strings.Contains(body, "max_message_size") {
		t.Fatalf("content over max_message_size: %d %s", code, body)
	}
	huge := `{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "` + strings.Repeat("x", 2*1000+InjectMargin) + `"}`
	if code, _, body := post(t, "POST", url, "s3cret", huge); code != 413 || !strings.Contains(body, "request body over") {
		t.Fatalf("body over the bound: %d %s", code, body)
	}
	if code, allow, body := post(t, "GET", url, "s3cret", ""); code != 405 || allow != "POST" || !strings.Contains(body, `"error"`) {
		t.Fatalf("GET: %d Allow %q %s", code, allow, body)
	}
	if len(got) != 1 {
		t.Fatalf("Inject called for a refused request: %+v", got[1:])
	}

	none := httptest.NewServer(Handler(Options{}))
	t.Cleanup(none.Close)
	if code, _, _ := post(t, "POST", none.URL+"/api/inject", "", ok); code != 501 {
		t.Fatalf("without Options.Inject: %d", code)
	}
}

// A refusal of the whole message is 422 for a 5xx reply and 503 for a
// 4xx, with the reply and the recipients refused; an injection that
// could not reach the listener is 503.
func TestInjectRefusals(t *testing.T) {
	var next error
	inject := func(context.Context, Injection) (*Injected, error) { return nil, next }
	srv := httptest.NewServer(Handler(Options{Inject: inject}))
	t.Cleanup(srv.Close)
	ok := `{"envelope_sender": "a@example.org", "recipients": ["b@example.net"], "content": "Subject: hi\r\n\r\nhello\r\n"}`
	rejected := []RejectedRecipient{{Recipient: "b@example.net", Reply: "550 5.1.1 No such user"}}
	for _, tc := range []struct {
		err  error
		code int
		want []string
	}{
		{&InjectRefused{Reply: &reply.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Text: "No such user"}, Rejected: rejected}, 422,
			[]string{`"reply": "550 5.1.1 No such user"`, `"recipient": "b@example.net"`}},
		{&InjectRefused{Reply: &reply.Reply{Code: 554, Enhanced: [3]int{5, 7, 1}, Text: "Spam"}}, 422,
			[]string{`"error": "message refused: 554 5.7.1 Spam"`, `"reply": "554 5.7.1 Spam"`}},
		{&InjectRefused{Reply: &reply.Reply{Code: 450, Enhanced: [3]int{4, 7, 0}, Text: "Slow down"}}, 503,
			[]string{`"reply": "450 4.7.0 Slow down"`}},
		{errors.New("cannot reach the smtp listener"), 503, []string{`"error": "cannot reach the smtp listener"`}},
		{ErrNoInjectListener, 503, []string{ErrNoInjectListener.Error()}},
	} {
		next = tc.err
		code, _, body := post(t, "POST", srv.URL+"/api/inject", "", ok)
		if code != tc.code {
			t.Errorf("%v: %d %s, want %d", tc.err, code, body, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%v: %s, want %s in it", tc.err, body, w)
			}
		}
	}
}

// An injection's body is reserved from max_data_memory as it is read,
// the content held until the injection ends and the rest given back at
// once: a body that does not fit in what the listeners' sessions left is
// 503 before Inject is called, and nothing stays reserved after either.
func TestInjectMemory(t *testing.T) {
	const limit = 4000
	var used atomic.Int64
	reserve := func(n int64) bool {
		for {
			u := used.Load()
			if u+n > limit {
				return false
			}
			if used.CompareAndSwap(u, u+n) {
				return true
			}
		}
	}
	var during []int64
	inject := func(_ context.Context, in Injection) (*Injected, error) {
		during = append(during, used.Load())
		return &Injected{ID: "0123456789ABCDEFGHJK", Accepted: in.Recipients}, nil
	}
	srv := httptest.NewServer(Handler(Options{Inject: inject, MaxMessageSize: func() int64 { return 3000 },
		ReserveData: reserve, ReleaseData: func(n int64) { used.Add(-n) }}))
	t.Cleanup(srv.Close)
	url := srv.URL + "/api/inject"
	content := "Subject: hi\n\n" + strings.Repeat("x", 2500) + "\n"
	b, _ := json.Marshal(map[string]any{"envelope_sender": "a@example.org", "recipients": []string{"b@example.net"}, "content": content})

	if code, _, body := post(t, "POST", url, "", string(b)); code != 200 {
		t.Fatalf("inject: %d %s", code, body)
	}
	if len(during) != 1 || during[0] != int64(len(content)) || used.Load() != 0 {
		t.Fatalf("reserved %v during Inject (want the content's %d), %d after", during, len(content), used.Load())
	}
	// The listeners' sessions hold most of the budget.
	used.Store(2000)
	if code, _, body := post(t, "POST", url, "", string(b)); code != 503 || !strings.Contains(body, "max_data_memory") {
		t.Fatalf("over the budget: %d %s, want 503 naming max_data_memory", code, body)
	}
	if len(during) != 1 || used.Load() != 2000 {
		t.Fatalf("over the budget: Inject called %d times, %d reserved after, want 2000", len(during), used.Load())
	}
	used.Store(0)
	if code, _, body := post(t, "POST", url, "", `{"envelope_sender": "a@example.org", "recipients": ["bob"], "content": "x"}`); code != 400 || used.Load() != 0 {
		t.Fatalf("a refused body: %d %s, %d reserved after", code, body, used.Load())
	}
}
