package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

const cfg = `{"header": "X-Spam-Flag", "match": "(?i)^yes", "prefix": "[SPAM] "}`

func TestDeclaresDataHeadersOnly(t *testing.T) {
	h := sdktest.New(t, &Tagger{}, cfg)
	if !reflect.DeepEqual(h.Info().Hooks, []sdk.Hook{sdk.HookData}) || h.Info().NeedsBody {
		t.Errorf("Info = %+v, want data hook, headers only", h.Info())
	}
}

func TestTagging(t *testing.T) {
	h := sdktest.New(t, &Tagger{}, cfg)
	txn := sdktest.NewTxn("a@example.net", "b@example.org")
	cases := []struct{ name, in, wantHead string }{
		{"flagged", "X-Spam-Flag: YES\nSubject: cheap pills\n\nbody\n", "X-Spam-Flag: YES\r\nSubject: [SPAM] cheap pills\r\n"},
		{"not flagged", "X-Spam-Flag: NO\nSubject: lunch\n\nbody\n", "X-Spam-Flag: NO\r\nSubject: lunch\r\n"},
		{"no flag header", "Subject: lunch\n\nbody\n", "Subject: lunch\r\n"},
		{"no subject", "X-Spam-Flag: yes\nFrom: a@example.net\n\nbody\n", "X-Spam-Flag: yes\r\nFrom: a@example.net\r\nSubject: [SPAM]\r\n"},
		{"already tagged", "X-Spam-Flag: yes\nSubject: [SPAM] again\n\nbody\n", "X-Spam-Flag: yes\r\nSubject: [SPAM] again\r\n"},
		{"second subject untouched", "x-spam-flag: Yes\nsubject: one\nSubject: two\n\nbody\n", "x-spam-flag: Yes\r\nsubject: [SPAM] one\r\nSubject: two\r\n"},
	}
	for _, tc := range cases {
		v := h.Data(txn, []byte(tc.in))
		if v.Action != sdk.ActionContinue {
			t.Errorf("%s: action %v", tc.name, v.Action)
		}
		out := string(sdktest.Apply(t, []byte(tc.in), v))
		if want := tc.wantHead + "\r\nbody\r\n"; out != want {
			t.Errorf("%s: message\n%q\nwant\n%q", tc.name, out, want)
		}
	}
}

func TestOtherHeaderAndDefaults(t *testing.T) {
	h := sdktest.New(t, &Tagger{}, `{"header": "X-Virus", "match": "infected", "prefix": "[VIRUS] "}`)
	out := sdktest.Apply(t, []byte("X-Virus: infected: EICAR\r\nSubject: hi\r\n\r\n"),
		h.Data(sdktest.NewTxn("a@example.net"), []byte("X-Virus: infected: EICAR\r\nSubject: hi\r\n\r\n")))
	if !strings.Contains(string(out), "Subject: [VIRUS] hi\r\n") {
		t.Errorf("message = %q", out)
	}
	h = sdktest.New(t, &Tagger{}, "")
	v := h.Data(sdktest.NewTxn("a@example.net"), []byte("X-Spam-Flag: yes\r\nSubject: hi\r\n\r\n"))
	if !reflect.DeepEqual(v.Edits, []sdk.Edit{sdk.ChangeHeader{Name: "Subject", Occurrence: 1, Value: "[SPAM] hi"}}) {
		t.Errorf("defaults: edits = %#v", v.Edits)
	}
}

func TestBadConfig(t *testing.T) {
	for _, c := range []string{`{"match": "("}`, `{"prefx": "x"}`, `{"header": ""}`, `{"prefix": " "}`} {
		if _, err := sdktest.Start(t, &Tagger{}, c); err == nil {
			t.Errorf("config %s accepted", c)
		}
	}
}
