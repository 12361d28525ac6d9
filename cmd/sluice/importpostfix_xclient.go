package main

import (
	"fmt"
	"strings"
)

// xclientHosts is a service's listeners' xclient_hosts and where it came
// from: the service's master.cf -o smtpd_authorized_xclient_hosts, else
// main.cf's. Carried only as a plain list of addresses and networks
// (IPv6 in Postfix's brackets or not), which xclient_hosts takes; a list
// with a host name, a file, a table or an !exclusion is listed as not
// carried, whole: part of it would allow fewer clients than Postfix, or,
// with an exclusion dropped, more.
func (im *importer) xclientHosts(s pfService, where string) (nets []string, from string) {
	const param = "smtpd_authorized_xclient_hosts"
	raw, own := s.opts[param]
	if !own && !im.p.set(param) {
		return nil, ""
	}
	first := !im.p.used[param] // main.cf's is noted once, not once per service
	value, from := im.smtpdOption(s, param)
	var bad []string
	for _, e := range pfList(value) {
		n, ok := pfNetwork(e)
		if !ok {
			bad = append(bad, e)
			continue
		}
		nets = append(nets, n)
	}
	if len(bad) == 0 {
		return nets, from
	}
	why := strings.Join(bad, " ") + ": xclient_hosts takes addresses and CIDR networks only (no host names, files, tables or !exclusions); none carried, write it by hand"
	switch {
	case own:
		im.noteAt(fmt.Sprintf("%s -o %s=%s", where, param, raw), why)
	case first:
		im.note(param, why)
	}
	return nil, ""
}
