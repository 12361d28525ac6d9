package main

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/internal/netlist"
)

// milterMaps reads main.cf's smtpd_milter_maps (Postfix 3.2), whose
// result for a client overrides smtpd_milters: the networks of a cidr:
// table line saying DISABLE, the clients no milter serves, become the
// smtpd milter stages' skip_networks. A line with another result (other
// milters for those clients), one Sluice cannot read (if/endif, a
// negation) and a table of another type are listed as not carried over.
func (im *importer) milterMaps() (nets []string, from string) {
	const param = "smtpd_milter_maps"
	if !im.p.set(param) {
		return nil, ""
	}
	var tables []string
	for _, spec := range pfList(im.p.take(param)) {
		typ, name, _ := strings.Cut(strings.TrimPrefix(spec, "proxy:"), ":")
		if typ != "cidr" {
			im.note(param, "table "+spec+": only cidr: tables are imported, their DISABLE lines as the milter stages' skip_networks")
			continue
		}
		data, err := pfReadFile(im.p.localPath(name))
		if err != nil {
			im.note(param, fmt.Sprintf("table %s: %v", spec, pathErr(err)))
			continue
		}
		tables = append(tables, spec)
		for _, l := range pfLogicalLines(data) {
			k, v, _ := strings.Cut(strings.ReplaceAll(l.text, "\t", " "), " ")
			e := pfEntry{key: k, value: strings.TrimSpace(v), file: name, line: l.line}
			if !strings.EqualFold(e.value, "DISABLE") {
				im.noteAt(e.where(), "a result other than DISABLE: none; a milter stage serves every client but its skip_networks")
				continue
			}
			// cidr_table(5) allows an IPv6 network in brackets.
			n := strings.NewReplacer("[", "", "]", "").Replace(k)
			if _, err := netlist.Prefix(n); err != nil {
				im.noteAt(e.where(), "not a network or address: none")
				continue
			}
			nets = appendOnce(nets, n)
		}
	}
	return nets, param + " = " + strings.Join(tables, ", ") + " (its DISABLE lines: no milter for those clients)"
}
