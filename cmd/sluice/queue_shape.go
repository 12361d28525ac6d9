package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/admin"
	"github.com/sluice-mta/sluice/core/envelope"
)

// checkShapeFlags refuses the flags of queue shape and queue flush
// --domain given to another subcommand, or given values the daemon would
// refuse: a mistake on the command line is exit 1 before the daemon is
// asked.
func checkShapeFlags(fs *flag.FlagSet, sub, state string, top int, domain string) error {
	for _, name := range []string{"sender", "top"} {
		if isSet(fs, name) && sub != "shape" {
			return fmt.Errorf("--%s is for queue shape", name)
		}
	}
	if isSet(fs, "top") && top < 1 {
		return fmt.Errorf("--top %d: want a positive number of domains", top)
	}
	if sub == "shape" && state != "" && state != "all" && state != "deferred" && !envelope.State(state).Known() {
		return fmt.Errorf("--state %q: want one of %v, deferred or all", state, envelope.States)
	}
	if isSet(fs, "domain") {
		if sub != "flush" && sub != "suspend" && sub != "resume" {
			return fmt.Errorf("--domain is for queue flush, suspend and resume")
		}
		if _, err := admin.ParseSite(domain); err != nil {
			return fmt.Errorf("--domain: %w", err)
		}
	}
	return nil
}

// printShape prints queue shape as qshape prints the queue: a column per
// age bucket headed by its limit in minutes after T (the row's total),
// TOTAL first, then the busiest domains, then others (the rest), every
// number right-aligned.
func printShape(w io.Writer, cl *admin.Client, q admin.ShapeQuery, asJSON bool) error {
	s, raw, err := cl.Shape(q)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, raw)
	}
	head := append([]string{"", "T"}, s.Buckets...)
	rows := [][]string{head, shapeCells("TOTAL", s.Total)}
	for _, r := range s.Domains {
		// A domain is the outside world's text (see printable).
		rows = append(rows, shapeCells(printable(r.Domain), r))
	}
	if s.Others.Count > 0 {
		rows = append(rows, shapeCells("others", s.Others))
	}
	widths := make([]int, len(head))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
			b.WriteString(c)
		}
		b.WriteByte('\n')
	}
	if s.Capped {
		fmt.Fprintf(&b, "(more than %d domains: those seen after the first %d are counted in others)\n", admin.MaxShapeDomains, admin.MaxShapeDomains)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// shapeCells is one row of the table: its label, its total, its ages.
func shapeCells(label string, r admin.ShapeRow) []string {
	cells := []string{label, strconv.Itoa(r.Count)}
	for _, n := range r.Ages {
		cells = append(cells, strconv.Itoa(n))
	}
	return cells
}
