package delivery

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/core/envelope"
)

// TestRcptParamsRoundTrip: what the listener stored goes to the stages in
// wire form (RFC 3461 §4.2 xtext, RFC 6533 §3 utf-8-addr-xtext) and comes
// back unchanged.
func TestRcptParamsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		r       envelope.Recipient
		want    map[string]string
		back    string // notify orcpt, when it differs from r's
		wantNil bool
	}{
		{r: envelope.Recipient{}, wantNil: true},
		{r: envelope.Recipient{Notify: []string{"SUCCESS", "FAILURE"}, ORcpt: "RFC822;a+b=c@x.test"},
			want: map[string]string{"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "RFC822;a+2Bb+3Dc@x.test"}},
		{r: envelope.Recipient{ORcpt: "UTF-8;dé\\x@x.test"},
			want: map[string]string{"ORCPT": `UTF-8;d\x{E9}\x{5C}x@x.test`}},
		{r: envelope.Recipient{ORcpt: "bare@x.test"}, // an old queue entry's form
			want: map[string]string{"ORCPT": "rfc822;bare@x.test"}, back: "[] RFC822;bare@x.test"},
	} {
		p := RcptParams(&tc.r)
		if tc.wantNil != (p == nil) || (!tc.wantNil && !maps.Equal(p, tc.want)) {
			t.Errorf("RcptParams(%+v) = %v, want %v", tc.r, p, tc.want)
			continue
		}
		notify, orcpt, err := ParseRcptParams(p)
		want := tc.back
		if want == "" {
			want = fmt.Sprintf("%v %s", tc.r.Notify, tc.r.ORcpt)
		}
		if got := fmt.Sprintf("%v %s", notify, orcpt); err != nil || got != want {
			t.Errorf("ParseRcptParams(%v) = %s, %v; want %s", p, got, err, want)
		}
	}
}

func TestParseRcptParams(t *testing.T) {
	for _, tc := range []struct {
		p      map[string]string
		notify []string
		orcpt  string
		ok     bool
	}{
		{map[string]string{"notify": "delay, success,DELAY"}, []string{"DELAY", "SUCCESS"}, "", true},
		{map[string]string{"NOTIFY": "never"}, []string{"NEVER"}, "", true},
		{map[string]string{"ORCPT": "utf-8;dé@x.test"}, nil, "UTF-8;dé@x.test", true}, // unitext
		{map[string]string{"NOTIFY": "NEVER,FAILURE"}, nil, "", false},
		{map[string]string{"NOTIFY": ""}, nil, "", false},
		{map[string]string{"NOTIFY": "FAILURE,"}, nil, "", false},
		{map[string]string{"ORCPT": "x@y.test"}, nil, "", false},
		{map[string]string{"ORCPT": "rfc822;"}, nil, "", false},
		{map[string]string{"ORCPT": "rfc822;a+4"}, nil, "", false},
		{map[string]string{"ORCPT": "rfc822;d+C3+A9@x.test"}, nil, "UTF-8;d\u00e9@x.test", true}, // UTF-8 octets, as Postfix writes them
		{map[string]string{"ORCPT": "rfc822;d+FF@x.test"}, nil, "", false},                       // not UTF-8
		{map[string]string{"ORCPT": "rfc822;d+C2+85@x.test"}, nil, "", false},                    // a C1 control
		{map[string]string{"ORCPT": `utf-8;a\x{0}`}, nil, "", false},
		{map[string]string{"ORCPT": `utf-8;a\x{D800}`}, nil, "", false},
		{map[string]string{"ORCPT": "utf-8;a b"}, nil, "", false},
		{map[string]string{"ORCPT": "rfc822;" + strings.Repeat("a", 493)}, nil, "RFC822;" + strings.Repeat("a", 493), true},
		{map[string]string{"ORCPT": "rfc822;" + strings.Repeat("a", 494)}, nil, "", false}, // 501 characters
		{map[string]string{"NOTIFY": "BOGUS", "ORCPT": "rfc822;kept@x.test"}, nil, "RFC822;kept@x.test", false},
	} {
		notify, orcpt, err := ParseRcptParams(tc.p)
		if (err == nil) != tc.ok || !slices.Equal(notify, tc.notify) || orcpt != tc.orcpt {
			t.Errorf("ParseRcptParams(%q) = %q, %q, %v; want %q, %q, ok %v", tc.p, notify, orcpt, err, tc.notify, tc.orcpt, tc.ok)
		}
	}
}

func TestMailParams(t *testing.T) {
	if p := MailParams("", ""); p != nil {
		t.Errorf("MailParams of nothing = %v", p)
	}
	p := MailParams("HDRS", "a+b c")
	if !maps.Equal(p, map[string]string{"RET": "HDRS", "ENVID": "a+2Bb+20c"}) {
		t.Errorf("MailParams = %v", p)
	}
	if ret, id, err := ParseMailParams(p); ret != "HDRS" || id != "a+b c" || err != nil {
		t.Errorf("ParseMailParams(%v) = %q, %q, %v", p, ret, id, err)
	}
	for _, bad := range []map[string]string{
		{"RET": "ALL"},
		{"ENVID": "a+zz"},
		{"ENVID": ""},
		{"ENVID": "+C3+A9"},
		{"ENVID": strings.Repeat("x", 101)},
	} {
		if ret, id, err := ParseMailParams(bad); err == nil || ret != "" || id != "" {
			t.Errorf("ParseMailParams(%q) = %q, %q, %v; want an error", bad, ret, id, err)
		}
	}
}

func TestOriginalRecipient(t *testing.T) {
	for addr, want := range map[string]string{
		"alice+news@x.test": "rfc822;alice+2Bnews@x.test",
		"dé@x.test":         `utf-8;d\x{E9}@x.test`,
	} {
		if got := OriginalRecipient(addr); got != want {
			t.Errorf("OriginalRecipient(%q) = %q, want %q", addr, got, want)
		}
	}
}
