package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/internal/testlib"
)

// POST /api/inject submits through the daemon's own smtp listener: the
// message reaches the relay's sink with its content intact (LF line ends
// made CRLF) under the queue ID the answer names, a recipient the filter
// stage refuses at RCPT is answered in rejected while the others get the
// message, every recipient refused is 422 (5xx) or 503 (4xx) with the
// reply, the stage's refusal at the end of DATA is 422, and a bad body,
// content over max_message_size and a GET are 400, 413 and 405.
func TestInjectThroughListener(t *testing.T) {
	self := testlib.Build(t, "./cmd/sluice") // the filter plugin
	sink := testlib.NewSink(t, "127.0.0.1:0")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[limits]
max_message_size = 2000
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s
[[stage]]
name = "filter"
plugin = "filter"
[[stage.config.rules]]
name     = "unknown"
hook     = "rcpt"
match    = "^nobody@"
action   = "reject"
code     = 550
enhanced = "5.1.1"
text     = "No such user"
[[stage.config.rules]]
name     = "busy"
hook     = "rcpt"
match    = "^busy@"
action   = "tempfail"
code     = 450
enhanced = "4.2.1"
text     = "Mailbox busy"
[[stage.config.rules]]
name     = "spam"
hook     = "header"
header   = "Subject"
match    = "SPAM"
action   = "reject"
code     = 554
enhanced = "5.7.1"
text     = "Looks like spam"
`, filepath.Join(t.TempDir(), "data"), relayTo(sink))
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), Self: self, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	url := "http://" + d.AdminAddr().String() + "/api/inject"
	inject := func(method string, req any) (int, http.Header, []byte) {
		t.Helper()
		body, ok := req.(string)
		if !ok {
			b, err := json.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			body = string(b)
		}
		r, _ := http.NewRequest(method, url, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}
	type request struct {
		Sender     string `json:"envelope_sender"`
		Recipients []any  `json:"recipients"`
		Content    string `json:"content"`
	}
	content := "From: alice@sluice.test\nTo: bob@remote.test\nSubject: injected\n\nHello,\n.a line with a leading dot\nbye\n"

	code, _, body := inject("POST", request{"alice@sluice.test", []any{"bob@remote.test", map[string]string{"email": "nobody@remote.test"}}, content})
	var res admin.Injected
	if err := json.Unmarshal(body, &res); code != 200 || err != nil || res.ID == "" {
		t.Fatalf("inject: %d %s", code, body)
	}
	if strings.Join(res.Accepted, ",") != "bob@remote.test" || len(res.Rejected) != 1 ||
		res.Rejected[0] != (admin.RejectedRecipient{Recipient: "nobody@remote.test", Reply: "550 5.1.1 No such user"}) {
		t.Fatalf("inject: accepted %v, rejected %+v", res.Accepted, res.Rejected)
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if got.From != "alice@sluice.test" || strings.Join(got.Rcpts, ",") != "bob@remote.test" {
		t.Fatalf("delivered from %q to %v", got.From, got.Rcpts)
	}
	i := bytes.Index(got.Data, []byte("\r\nFrom: "))
	want := strings.ReplaceAll(content, "\n", "\r\n")
	if i < 0 || string(got.Data[i+2:]) != want {
		t.Fatalf("delivered:\n%q\nwant after Received:\n%q", got.Data, want)
	}
	if hdr := string(got.Data[:i]); !strings.Contains(hdr, " id "+res.ID) {
		t.Fatalf("Received %q does not name the queue ID %s the answer gave", hdr, res.ID)
	}

	for _, tc := range []struct {
		req        request
		code       int
		reply      string
		rejectedTo string
	}{
		{request{"alice@sluice.test", []any{"nobody@remote.test", "nobody@other.test"}, content}, 422, "550 5.1.1 No such user", "nobody@other.test"},
		{request{"alice@sluice.test", []any{"nobody@remote.test", "busy@remote.test"}, content}, 503, "450 4.2.1 Mailbox busy", "busy@remote.test"},
		{request{"alice@sluice.test", []any{"bob@remote.test"}, "Subject: SPAM\n\nbuy\n"}, 422, "554 5.7.1 Looks like spam", ""},
	} {
		code, _, body := inject("POST", tc.req)
		var refused struct {
			Error, Reply string
			Rejected     []admin.RejectedRecipient
		}
		if err := json.Unmarshal(body, &refused); code != tc.code || err != nil || refused.Reply != tc.reply {
			t.Errorf("%v: %d %s, want %d with reply %q", tc.req.Recipients, code, body, tc.code, tc.reply)
			continue
		}
		if tc.rejectedTo != "" && (len(refused.Rejected) != 2 || refused.Rejected[1].Recipient != tc.rejectedTo) {
			t.Errorf("%v: rejected %+v", tc.req.Recipients, refused.Rejected)
		}
	}

	if code, _, body := inject("POST", `{"envelope_sender": "alice@sluice.test", "recipients": ["bob@remote.test"]`); code != 400 {
		t.Fatalf("bad JSON: %d %s", code, body)
	}
	big := request{"alice@sluice.test", []any{"bob@remote.test"}, "Subject: big\n\n" + strings.Repeat("x", 2000) + "\n"}
	if code, _, body := inject("POST", big); code != 413 {
		t.Fatalf("content over max_message_size: %d %s", code, body)
	}
	if code, h, body := inject("GET", ""); code != 405 || h.Get("Allow") != "POST" {
		t.Fatalf("GET: %d Allow %q %s", code, h.Get("Allow"), body)
	}
	if n := len(sink.Deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want the first injection's only", n)
	}
	// The injections' bodies were reserved from max_data_memory (the
	// default, 512 MiB) and given back; a body over what the sessions
	// leave of it is 503.
	if !d.smtp.ReserveData(512 << 20) {
		t.Fatal("max_data_memory still held after the injections")
	}
	d.smtp.ReleaseData(1000)
	mid := request{"alice@sluice.test", []any{"bob@remote.test"}, "Subject: mid\n\n" + strings.Repeat("x", 1500) + "\n"}
	if code, _, body := inject("POST", mid); code != 503 || !strings.Contains(string(body), "max_data_memory") {
		t.Fatalf("over max_data_memory: %d %s", code, body)
	}
	d.smtp.ReleaseData(512<<20 - 1000)
}

// A wildcard listener is reached on 127.0.0.1, as sendmail reaches it,
// whatever Go names its socket: it binds "", 0.0.0.0 and :: alike and
// names all three [::], and an injection from ::1 was refused relaying
// by relay_networks = ["127.0.0.0/8"]. Only a listener written "[::]"
// is reached on ::1.
func TestInjectLoopbackFor(t *testing.T) {
	wild := &net.TCPAddr{IP: net.IPv6unspecified, Port: 25}
	for _, tc := range []struct {
		listen string
		bound  *net.TCPAddr
		want   string
	}{
		{"0.0.0.0:25", wild, "127.0.0.1:25"},
		{":25", wild, "127.0.0.1:25"},
		{"0.0.0.0:25", &net.TCPAddr{IP: net.IPv4zero, Port: 25}, "127.0.0.1:25"},
		{"[::]:25", wild, "[::1]:25"},
		{"[::1]:2525", &net.TCPAddr{IP: net.IPv6loopback, Port: 2525}, "[::1]:2525"},
		{"localhost:2525", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2525}, "127.0.0.1:2525"},
	} {
		if got := loopbackFor(tc.listen, tc.bound).String(); got != tc.want {
			t.Errorf("listen %q bound %v: %s, want %s", tc.listen, tc.bound, got, tc.want)
		}
	}
}

// A listener with tls_required is passed over, the session being in the
// clear: when it is the only one, the answer is 503 naming tls_required,
// not its 530 at MAIL as a 422 (a message refused for good, which a
// client drops, where the config is what stops it).
func TestInjectOnlyTLSRequired(t *testing.T) {
	certFile, keyFile := testlib.WriteKeyPair(t, testlib.SelfSigned(t, "mx.sluice.test"))
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
tls_required = true
tls_cert = %q
tls_key = %q
`, filepath.Join(t.TempDir(), "data"), certFile, keyFile)
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	resp, err := http.Post("http://"+d.AdminAddr().String()+"/api/inject", "application/json",
		strings.NewReader(`{"envelope_sender": "a@sluice.test", "recipients": ["bob@sluice.test"], "content": "Subject: hi\n\nhello\n"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !strings.Contains(string(body), "tls_required") {
		t.Fatalf("only a tls_required listener: %d %s, want 503 naming tls_required", resp.StatusCode, body)
	}
}

// An injection with more recipients than the listener's max_recipients
// is queued for the first max_recipients, the rest rejected with the
// listener's 452 4.5.3 and not sent: sent, each was one more refusal, and
// the listener closed the session at max_errors once they were 1000 past
// it, so that such an injection failed 503 (RCPT: EOF) every time.
func TestInjectPastMaxRecipients(t *testing.T) {
	sink := testlib.NewSink(t, "127.0.0.1:0")
	src := fmt.Sprintf(`hostname = "mx.sluice.test"
data_dir = %q
local_domains = ["sluice.test"]
relay_networks = ["127.0.0.0/8"]
[limits]
max_recipients = 2
max_errors = 1
soft_errors = -1
[admin]
listen = "127.0.0.1:0"
[[listener]]
name = "mx"
listen = "127.0.0.1:0"
%s`, filepath.Join(t.TempDir(), "data"), relayTo(sink))
	d, err := Start(Options{Config: mustParse(t, src), Logger: discardLog(), DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	var rcpts []string
	for i := range 1010 {
		rcpts = append(rcpts, fmt.Sprintf("r%d@remote.test", i))
	}
	b, err := json.Marshal(map[string]any{"envelope_sender": "alice@sluice.test", "recipients": rcpts,
		"content": "Subject: many\n\nhello\n"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+d.AdminAddr().String()+"/api/inject", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var res admin.Injected
	if err := json.Unmarshal(body, &res); resp.StatusCode != 200 || err != nil || res.ID == "" {
		t.Fatalf("inject: %d %s", resp.StatusCode, body)
	}
	if strings.Join(res.Accepted, ",") != "r0@remote.test,r1@remote.test" || len(res.Rejected) != 1008 {
		t.Fatalf("accepted %v, %d rejected", res.Accepted, len(res.Rejected))
	}
	for i, r := range res.Rejected {
		if r.Recipient != rcpts[i+2] || r.Reply != "452 4.5.3 Too many recipients" {
			t.Fatalf("rejected[%d] = %+v, want %s with 452 4.5.3", i, r, rcpts[i+2])
		}
	}
	got := sink.WaitN(t, 1, 10*time.Second)[0]
	if strings.Join(got.Rcpts, ",") != "r0@remote.test,r1@remote.test" {
		t.Fatalf("delivered to %v", got.Rcpts)
	}
}
