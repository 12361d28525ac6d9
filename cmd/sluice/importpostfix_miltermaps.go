package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/internal/netlist"
)

// milterMaps reads main.cf's smtpd_milter_maps (Postfix 3.2), whose
// result for a client overrides smtpd_milters: the networks of a cidr:
// table line saying DISABLE, the clients no milter serves, become the
// smtpd milter stages' skip_networks. A line with another result (other
// milters for those clients), one Sluice cannot read (if/endif, a
// negation) and a table of another type are listed as not carried over,
// and so is a DISABLE line one of them comes before for some of its
// clients: the first match decides (cidr_table(5)), and carrying it
// would skip milters Postfix runs.
func (im *importer) milterMaps() (nets []string, from string) {
	const param = "smtpd_milter_maps"
	if !im.p.set(param) {
		return nil, ""
	}
	var tables []string
	var sh milterShadow
	for _, spec := range pfList(im.p.take(param)) {
		typ, name, _ := strings.Cut(strings.TrimPrefix(spec, "proxy:"), ":")
		if typ != "cidr" {
			im.note(param, "table "+spec+": only cidr: tables are imported, their DISABLE lines as the milter stages' skip_networks")
			sh.all = true // its answers, unread, come before the next tables'
			continue
		}
		data, err := pfReadFile(im.p.localPath(name))
		if err != nil {
			im.note(param, fmt.Sprintf("table %s: %v", spec, pathErr(err)))
			sh.all = true
			continue
		}
		tables = append(tables, spec)
		depth := 0
		for _, l := range pfLogicalLines(data) {
			k, v, _ := strings.Cut(strings.ReplaceAll(l.text, "\t", " "), " ")
			e := pfEntry{key: k, value: strings.TrimSpace(v), file: name, line: l.line}
			// cidr_table(5) allows an IPv6 network in brackets.
			n := strings.NewReplacer("[", "", "]", "").Replace(k)
			switch {
			case strings.EqualFold(k, "if"):
				depth++
				im.noteAt(e.where(), "if/endif: none; its lines are not carried over")
				continue
			case strings.EqualFold(k, "endif"):
				depth = max(depth-1, 0)
				continue
			case depth > 0:
				// The line holds only for clients in the if's network too.
				im.noteAt(e.where(), "inside if/endif: none")
				continue
			}
			p, ok := cidrKey(n)
			if !ok && hostBits(n) {
				im.noteAt(e.where(), "host bits set in the network: none, as Postfix skips the line")
				continue
			}
			if !strings.EqualFold(e.value, "DISABLE") {
				im.noteAt(e.where(), "a result other than DISABLE: none; a milter stage serves every client but its skip_networks")
				sh.add(p, ok)
				continue
			}
			if !ok {
				im.noteAt(e.where(), "not a network or address (or a negation): none")
				sh.add(p, false)
				continue
			}
			if sh.covers(p) {
				// The table's first match decides (cidr_table(5)): an
				// earlier line answering some of these clients otherwise
				// would have them skip the milters Postfix runs for them.
				im.noteAt(e.where(), "an earlier line or table answers some of these clients first: none")
				continue
			}
			nets = appendOnce(nets, n)
		}
	}
	return nets, param + " = " + strings.Join(tables, ", ") + " (its DISABLE lines: no milter for those clients)"
}

// cidrKey parses a cidr: table key; a network with host bits set is none
// (hostBits).
func cidrKey(k string) (netip.Prefix, bool) {
	p, err := netlist.Prefix(k)
	if err != nil || hostBits(k) {
		return netip.Prefix{}, false
	}
	return p, true
}

// hostBits reports a network with host bits set, which Postfix's cidr
// table refuses, skipping the line (it matches no client).
func hostBits(k string) bool {
	q, err := netip.ParsePrefix(k)
	return err == nil && q.Masked() != q
}

// milterShadow is what the lines read so far answer otherwise than
// DISABLE: a later DISABLE line overlapping it is not the first match
// for all its clients.
type milterShadow struct {
	nets []netip.Prefix
	all  bool // a line or table whose clients are unknown (a negation)
}

func (m *milterShadow) add(p netip.Prefix, ok bool) {
	if !ok {
		m.all = true
		return
	}
	m.nets = append(m.nets, p)
}

func (m *milterShadow) covers(p netip.Prefix) bool {
	if m.all {
		return true
	}
	for _, q := range m.nets {
		if q.Overlaps(p) {
			return true
		}
	}
	return false
}
