package sdk

import (
	"strings"
	"testing"
)

// ReplyProblem names what the core would correct, and nothing else.
func TestReplyProblem(t *testing.T) {
	for _, tc := range []struct {
		v    Verdict
		want string
	}{
		{Reject(550, "5.7.1", "no"), ""},
		{Tempfail(451, "4.7.1", "later"), ""},
		{Verdict{Action: ActionReject, Reply: &Reply{Text: "text only"}}, ""},
		{Continue(), ""},
		{Reject(450, "4.7.1", "try later"), "a reject needs a 5xx code, not 450"},
		{Tempfail(550, "5.7.1", "no"), "a tempfail needs a 4xx code, not 550"},
		{Reject(550, "4.7.1", "mismatch"), `enhanced code "4.7.1" is not class.subject.detail of class 5`},
		{Reject(550, "5.7", "short"), `enhanced code "5.7"`},
		{Reject(550, "5.1000.1", "long"), `enhanced code "5.1000.1"`},
	} {
		got := tc.v.ReplyProblem()
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%+v: %q, want %q", tc.v.Reply, got, tc.want)
		}
	}
}
