package spamd

import (
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// TestSubjectTag: a message scoring at least tag_score, and neither
// refused nor quarantined, has subject_prefix put in front of its
// Subject, once; a message without a Subject gets one; an RFC 2047
// encoded Subject keeps its encoded-word whole after the prefix and a
// space; a Subject whose first line would pass 78 characters is folded
// after the prefix.
func TestSubjectTag(t *testing.T) {
	head := received[:strings.Index(received, "Subject:")]
	long := strings.Repeat("word ", 13) + "end"
	for _, tc := range []struct {
		name, cfg, score, subject, want string
		action                          sdk.Action
	}{
		{"tagged", ``, "6.0", "Subject: hello\r\n", "Subject: *** SPAM *** hello\r\n", sdk.ActionContinue},
		{"at tag_score", ``, "5.0", "Subject: hello\r\n", "Subject: *** SPAM *** hello\r\n", sdk.ActionContinue},
		{"under tag_score", ``, "4.9", "Subject: hello\r\n", "Subject: hello\r\n", sdk.ActionContinue},
		{"already tagged", ``, "6.0", "Subject: *** SPAM *** hello\r\n", "Subject: *** SPAM *** hello\r\n", sdk.ActionContinue},
		{"only the prefix", ``, "6.0", "Subject: *** SPAM ***\r\n", "Subject: *** SPAM ***\r\n", sdk.ActionContinue},
		{"no Subject", ``, "6.0", "", "", sdk.ActionContinue},
		{"empty Subject", ``, "6.0", "Subject:\r\n", "Subject: *** SPAM ***\r\n", sdk.ActionContinue},
		{"encoded", ``, "6.0", "Subject: =?UTF-8?B?w6l0w6k=?=\r\n", "Subject: *** SPAM *** =?UTF-8?B?w6l0w6k=?=\r\n", sdk.ActionContinue},
		{"encoded, folded", ``, "6.0", "Subject:\r\n =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n =?UTF-8?Q?_chaud?=\r\n",
			"Subject: *** SPAM *** =?UTF-8?Q?=C3=A9t=C3=A9?=\r\n =?UTF-8?Q?_chaud?=\r\n", sdk.ActionContinue},
		{"long", ``, "6.0", "Subject: " + long + "\r\n", "Subject: *** SPAM ***\r\n " + long + "\r\n", sdk.ActionContinue},
		{"own prefix", `, "subject_prefix": " [SPAM] "`, "6.0", "Subject: hello\r\n", "Subject: [SPAM] hello\r\n", sdk.ActionContinue},
		// Obsolete folding (RFC 5322 §4.2) the core would refuse in an
		// edit: the blank continuation lines go, the text stays.
		{"blank fold", ``, "6.0", "Subject: hello\r\n \r\n world\r\n \r\n",
			"Subject: *** SPAM *** hello\r\n world\r\n", sdk.ActionContinue},
		{"leading white space", ``, "6.0", "Subject: \t  hello\r\n", "Subject: *** SPAM *** hello\r\n", sdk.ActionContinue},
		{"UTF-8", ``, "6.0", "Subject: \xc3\xa9t\xc3\xa9\r\n", "Subject: *** SPAM *** \xc3\xa9t\xc3\xa9\r\n", sdk.ActionContinue},
		// Not UTF-8: the plugin sees U+FFFD, which would replace the
		// Latin-1 bytes; the Subject is left alone.
		{"Latin-1", ``, "6.0", "Subject: caf\xe9\r\n", "Subject: caf\xe9\r\n", sdk.ActionContinue},
		{"quarantined, not tagged", `, "quarantine_score": 8`, "8.0", "Subject: hello\r\n", "Subject: hello\r\n", sdk.ActionQuarantine},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, symbolsReply(true, tc.score, "5.0", "BAYES_99"))
			h := start(t, f, `, "tag_score": 5, "headers": []`+tc.cfg)
			in := head + tc.subject + "\r\nbody\r\n"
			v := h.Data(sdktest.NewTxn("alice@example.org", "bob@example.net"), []byte(in))
			if v.Action != tc.action {
				t.Fatalf("%v %q, want %v", v.Action, v.Reason, tc.action)
			}
			want := head + tc.subject + "\r\nbody\r\n"
			if tc.want != tc.subject {
				want = head + tc.want + "\r\nbody\r\n"
			}
			if tc.name == "no Subject" {
				want = head + "Subject: *** SPAM ***\r\n\r\nbody\r\n"
			}
			if got := string(sdktest.Apply(t, []byte(in), v)); got != want {
				t.Fatalf("message after the stage:\n%q\nwant\n%q", got, want)
			}
			if tc.name == "Latin-1" && !strings.HasSuffix(v.Reason, "Subject not tagged: it is not UTF-8") {
				t.Fatalf("reason %q, want it to say the Subject was not tagged", v.Reason)
			}
		})
	}
}

// TestRelayRejectScore: relay_reject_score, not reject_score, refuses
// the scanned mail of authenticated and relay_networks clients, whether
// it is higher or lower; other clients meet reject_score.
func TestRelayRejectScore(t *testing.T) {
	auth := sdktest.NewTxn("alice@example.org", "bob@example.net")
	auth.Session.AuthUser = "alice"
	relay := sdktest.NewTxn("alice@example.org", "bob@example.net")
	relay.Session.RelayClient = true
	other := sdktest.NewTxn("alice@example.org", "bob@example.net")
	scanned := `, "skip_authenticated": false, "skip_relay_clients": false, "reject_score": 5`
	for _, tc := range []struct {
		name, relayReject, score string
		txn                      *sdk.Txn
		want                     sdk.Action
		key                      string
	}{
		{"authenticated, higher bar", "20", "10.0", auth, sdk.ActionContinue, ""},
		{"relay client, higher bar", "20", "10.0", relay, sdk.ActionContinue, ""},
		{"relay client, over it", "20", "20.0", relay, sdk.ActionReject, "relay_reject_score 20"},
		{"other client, higher bar", "20", "10.0", other, sdk.ActionReject, "reject_score 5"},
		{"authenticated, lower bar", "3", "4.0", auth, sdk.ActionReject, "relay_reject_score 3"},
		{"other client, lower bar", "3", "4.0", other, sdk.ActionContinue, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, symbolsReply(true, tc.score, "5.0", "BAYES_99"))
			h := start(t, f, scanned+`, "relay_reject_score": `+tc.relayReject)
			v := h.Data(tc.txn, []byte(received))
			if v.Action != tc.want || (tc.key != "" && !strings.HasSuffix(v.Reason, "at or over "+tc.key)) {
				t.Fatalf("%v %q, want %v at or over %s", v.Action, v.Reason, tc.want, tc.key)
			}
		})
	}
}
