package spamd

import (
	"regexp"
	"slices"
	"strings"
)

// maxReport bounds X-Spam-Report's text: the table of some dozens of
// rules takes a few kilobytes; the rest is cut at a line's end.
const maxReport = 4000

var (
	// The line under the table's column names (SpamAssassin's default
	// report template, 10_default_prefs.cf): its rows follow.
	tableRule = regexp.MustCompile(`^-{4} -{10,}`)
	// A row of _SUMMARY_ (PerMsgStatus.pm): the score right-aligned in
	// four columns, the rule's name, its description. Wrapped
	// descriptions and rule logs are indented further.
	tableRow = regexp.MustCompile(`^ {0,3}-?[0-9]+(?:\.[0-9]+)? +([_a-zA-Z][_a-zA-Z0-9]{0,127})(?: |$)`)
	// The table's heading, "Content analysis details:   (_SCORE_
	// points, _REQD_ required)" in English and in its translations
	// (30_text_de.cf's "Inhaltsanalyse im Detail:", 30_text_fr.cf's,
	// which has no rule of dashes, ...): the report's part worth a
	// field starts there. The preamble before it is report_safe's
	// wrapper text and a preview of the message, the sender's words,
	// whose lines after the first are indented (get_content_preview).
	tableStart = regexp.MustCompile(`^[^ \t].*: +\(-?[0-9]+(?:\.[0-9]+)? [^ ,()]+, -?[0-9]+(?:\.[0-9]+)? [^()]+\)$`)
)

// tableAt is the index of the line that starts the table of a report's
// lines: its heading, the last line that reads as one (the preview, its
// first line included, comes before it), else the column names over its
// rule of dashes (a template without the heading); -1 without either (a
// site's own template).
func tableAt(lines []string) int {
	for i := len(lines) - 1; i >= 0; i-- {
		if line := strings.TrimRight(lines[i], "\r"); tableStart.MatchString(line) && !tableRow.MatchString(line) {
			return i
		}
	}
	for i, line := range lines {
		if tableRule.MatchString(line) {
			return max(i-1, 0)
		}
	}
	return -1
}

// reportRules are the rules hit as a REPORT reply lists them, sorted as
// SYMBOLS gives them; none when the report has no table (a site's own
// report template).
func reportRules(report string) []string {
	var rules []string
	lines := strings.Split(report, "\n")
	at := tableAt(lines)
	if at < 0 {
		return nil
	}
	for _, line := range lines[at+1:] {
		line = strings.TrimRight(line, "\r")
		if m := tableRow.FindStringSubmatch(line); m != nil && !slices.Contains(rules, m[1]) {
			rules = append(rules, m[1])
		}
	}
	slices.Sort(rules)
	return rules
}

// reportField is X-Spam-Report's value for a report: from its table's
// heading on (tableAt; all of it without a table), control characters and 8-bit
// bytes made '?' or spaces, blank lines and the rule of dashes left
// out, at most maxReport bytes, each of its lines
// on a line of the field and a long one folded at a space before 78
// characters, or cut at 998 (RFC 5322 §2.1.1, §2.2.3). "" when there
// is nothing to say.
func reportField(report string) string {
	all := strings.Split(report, "\n")
	if at := tableAt(all); at >= 0 {
		all = all[at:]
	}
	var lines []string
	size := 0
	for _, line := range all {
		line = strings.TrimRight(clean(line), " ")
		// A line of white space only may not be folded in (RFC 5322
		// §3.2.2); the table's rule of dashes, 78 wide and a tab more
		// in the field, is decoration.
		if strings.Trim(line, " -") == "" {
			continue
		}
		if size+len(line) > maxReport {
			lines = append(lines, "[...]")
			break
		}
		size += len(line)
		lines = append(lines, line)
	}
	if len(lines) == 0 {
		return ""
	}
	lines[0] = strings.TrimLeft(lines[0], " ")
	var b strings.Builder
	for i, line := range lines {
		width := len(hdrReport) + 2 // the field's first line
		if i > 0 {
			b.WriteString("\r\n\t")
			width = 1
		}
		fold(&b, line, width)
	}
	return b.String()
}

// clean makes a peer's line safe in a field: a tab a space, any other
// control character or 8-bit byte '?'.
func clean(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '\t':
			b[i] = ' '
		case c < ' ' || c >= 0x7f:
			b[i] = '?'
		}
	}
	return string(b)
}

// fold writes line, which starts at column width, breaking it before a
// space so that no line passes 78 characters where a space allows, and
// none 998 in any case.
func fold(b *strings.Builder, line string, width int) {
	for width+len(line) > 78 {
		// The last space that keeps the line within 78 and leaves it
		// something other than white space; else the first one after.
		cut := -1
		for i := 1; i < len(line) && width+i <= 78; i++ {
			if line[i] == ' ' && strings.TrimSpace(line[:i]) != "" {
				cut = i
			}
		}
		if cut < 0 {
			for i := 1; i < len(line); i++ {
				if line[i] == ' ' && strings.TrimSpace(line[:i]) != "" {
					cut = i
					break
				}
			}
		}
		if cut < 0 || width+cut > 998 {
			if width+len(line) <= 998 {
				break
			}
			// No space in time: a cut that adds one, as nothing else
			// keeps the line within RFC 5322's limit.
			cut = 998 - width
			b.WriteString(line[:cut] + "\r\n ")
			line, width = line[cut:], 1
			continue
		}
		b.WriteString(line[:cut] + "\r\n")
		line, width = line[cut:], 0
	}
	b.WriteString(line)
}
