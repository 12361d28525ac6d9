package config

import (
	"regexp"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/internal/testlib"
)

// readmeHeadings returns the README's ## and ### headings outside fenced
// blocks, in order, each with the anchor GitHub gives it.
func readmeHeadings(readme string) (titles, anchors []string, levels []int) {
	fenced := false
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		level := 0
		switch {
		case strings.HasPrefix(line, "## "):
			level = 2
		case strings.HasPrefix(line, "### "):
			level = 3
		default:
			continue
		}
		title := strings.TrimSpace(line[level+1:])
		titles = append(titles, title)
		anchors = append(anchors, githubAnchor(title))
		levels = append(levels, level)
	}
	return titles, anchors, levels
}

// githubAnchor is the fragment GitHub makes of a heading: lower case,
// punctuation other than '-' and '_' dropped, spaces made '-'.
func githubAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestREADMEContentsList: the contents list at the top names every section
// heading, in order and at its level, so that a new section cannot be
// left out of it.
func TestREADMEContentsList(t *testing.T) {
	readme := testlib.README(t)
	start := strings.Index(readme, "\nContents:\n")
	if start < 0 {
		t.Fatal("README has no Contents: list")
	}
	end := strings.Index(readme[start:], "\n## ")
	list := readme[start : start+end]
	var want []string
	titles, anchors, levels := readmeHeadings(readme)
	for i := range titles {
		indent := ""
		if levels[i] == 3 {
			indent = "  "
		}
		want = append(want, indent+"- ["+titles[i]+"](#"+anchors[i]+")")
	}
	var got []string
	for _, line := range strings.Split(list, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "- [") {
			got = append(got, line)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README contents list:\n%s\nwant (from the headings):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestREADMELinksResolve: every in-page link (](#anchor)) points at a
// heading that exists.
func TestREADMELinksResolve(t *testing.T) {
	readme := testlib.README(t)
	_, anchors, _ := readmeHeadings(readme)
	known := map[string]bool{}
	for _, a := range anchors {
		known[a] = true
	}
	for _, m := range regexp.MustCompile(`\]\(#([^)\s]+)\)`).FindAllStringSubmatch(readme, -1) {
		if !known[m[1]] {
			t.Errorf("README links to #%s, which no heading makes", m[1])
		}
	}
}
