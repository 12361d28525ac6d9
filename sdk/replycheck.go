package sdk

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseEnhanced parses an enhanced status code, "5.7.1": class, subject
// and detail of at most three digits each (RFC 3463 §2). ok is false
// unless it parses and its class is class.
func ParseEnhanced(s string, class int) (code [3]int, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return [3]int{}, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 999 {
			return [3]int{}, false
		}
		code[i] = n
	}
	return code, code[0] == class
}

// ReplyProblem says why Sluice would not send v's reply as it is written,
// or returns "" when it would: a reject's code must be 5xx and a
// tempfail's 4xx (RFC 5321 §4.2.1), and an enhanced code must be
// class.subject.detail of the reply's class (RFC 3463 §2). Sluice then
// sends its default (550 5.7.1, 451 4.7.1) and logs "stage reply
// corrected"; sdktest fails the test. A reply with only a text takes the
// default code, which is no problem.
func (v Verdict) ReplyProblem() string {
	if v.Reply == nil || v.Reply.Code == 0 && v.Reply.Enhanced == "" {
		return ""
	}
	var lo int
	var want string
	switch v.Action {
	case ActionReject:
		lo, want = 500, "a reject needs a 5xx code, not %d (a 4xx refusal is sdk.Tempfail)"
	case ActionTempfail:
		lo, want = 400, "a tempfail needs a 4xx code, not %d (a 5xx refusal is sdk.Reject)"
	default:
		return ""
	}
	if c := v.Reply.Code; c < lo || c > lo+99 {
		return fmt.Sprintf(want, c)
	}
	if e := v.Reply.Enhanced; e != "" {
		if _, ok := ParseEnhanced(e, v.Reply.Code/100); !ok {
			return fmt.Sprintf("enhanced code %q is not class.subject.detail of class %d", e, v.Reply.Code/100)
		}
	}
	return ""
}
