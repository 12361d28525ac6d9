package spamd

import (
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// score formats a score as SpamAssassin's _SCORE_ and _REQD_ tags do.
func score(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// fields are the X-Spam-* fields for r, those of names in that order,
// written as SpamAssassin writes them (its add_header defaults in
// 10_default_prefs.cf): X-Spam-Flag only on spam, X-Spam-Level only for
// a score of 1 or more, as Haraka leaves out a field with nothing to say.
func fields(names []string, r result) []sdk.Edit {
	var edits []sdk.Edit
	for _, name := range names {
		var v string
		switch name {
		case hdrFlag:
			if !r.spam {
				continue
			}
			v = "YES"
		case hdrLevel:
			// _STARS_: a star per whole point, at most 50.
			if v = strings.Repeat("*", int(min(max(r.score, 0), 50))); v == "" {
				continue
			}
		case hdrScore:
			v = score(r.score)
		case hdrStatus:
			v = status(r)
		}
		edits = append(edits, sdk.AddHeader{Name: name, Value: v})
	}
	return edits
}

// status is X-Spam-Status: "Yes, score=1000.0 required=5.0
// tests=GTUBE,NO_RELAYS", folded between rules before a line passes 78
// characters (RFC 5322 §2.1.1), as SpamAssassin folds it.
func status(r result) string {
	yes := "No"
	if r.spam {
		yes = "Yes"
	}
	var b strings.Builder
	b.WriteString(yes + ", score=" + score(r.score) + " required=" + score(r.required) + " tests=")
	tests := strings.Join(r.symbols, ",")
	if tests == "" {
		tests = "none"
	}
	line := len(hdrStatus) + 2 + b.Len() // the field's first line so far
	for i, t := range strings.SplitAfter(tests, ",") {
		if i > 0 && line+len(t) > 78 {
			b.WriteString("\r\n\t")
			line = 1
		}
		b.WriteString(t)
		line += len(t)
	}
	return b.String()
}

// isSpamField reports whether a field is one of the X-Spam-* family a
// sender might forge to look scanned and clean.
func isSpamField(name string) bool {
	return len(name) > len("X-Spam-") && strings.EqualFold(name[:len("X-Spam-")], "X-Spam-")
}

// removeIncoming deletes every X-Spam-* field of m, each name's from its
// last occurrence so that the earlier ones' numbers hold.
func removeIncoming(m *sdk.Message) []sdk.Edit {
	count := map[string]int{}
	var order []string
	for _, h := range m.Headers {
		if isSpamField(h.Name) {
			k := strings.ToLower(h.Name)
			if count[k] == 0 {
				order = append(order, h.Name)
			}
			count[k]++
		}
	}
	var edits []sdk.Edit
	for _, name := range order {
		for i := count[strings.ToLower(name)]; i >= 1; i-- {
			edits = append(edits, sdk.DeleteHeader{Name: name, Occurrence: i})
		}
	}
	return edits
}
