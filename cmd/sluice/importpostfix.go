package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/core/config"
)

const importPostfixUsage = `usage: sluice import-postfix [-d DIR]
  print a draft sluice.toml made from a Postfix configuration (main.cf,
  master.cf and the hash/texthash tables they name) on stdout`

// cmdImportPostfix prints a sluice.toml drafted from a Postfix config
// directory: each setting under a comment naming the parameter it came
// from, and at the end, as comments, each parameter read and not
// carried over, with why. A draft to read: Postfix's restrictions,
// checks and local delivery have no one-line counterparts.
func cmdImportPostfix(args []string, w io.Writer) error {
	fs := newFlags("import-postfix")
	dir := fs.String("d", "/etc/postfix", "Postfix configuration directory")
	pos, err := parseCommand(fs, args, importPostfixUsage, w)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("import-postfix takes no arguments, got %q", pos)
	}
	host, _ := os.Hostname()
	out, err := importPostfix(*dir, host)
	if err != nil {
		return fmt.Errorf("import-postfix: %w", err)
	}
	_, err = io.WriteString(w, out)
	return err
}

// importPostfix reads dir and returns the sluice.toml text; hostname is
// gethostname()'s, for Postfix's default myhostname.
func importPostfix(dir, hostname string) (string, error) {
	p, err := readPostfix(dir, hostname)
	if err != nil {
		return "", err
	}
	im := &importer{p: p}
	if err := im.run(); err != nil {
		return "", err
	}
	if p.err != nil {
		return "", p.err
	}
	return im.text(dir), nil
}

// pfNote is a parameter, service option or table line not carried over.
type pfNote struct {
	order int // main.cf line; master.cf's and tables' come after
	what  string
	why   string
}

// importer builds the TOML, table by table, in the order TOML needs:
// top-level keys first, then tables.
type importer struct {
	p     *pfConf
	top   strings.Builder // top-level keys
	body  strings.Builder // tables
	notes []pfNote
	// origin says where a myorigin file's domain was read, for the
	// header: /etc/mailname may be this machine's, not -d's host's.
	origin string
	// milterUsers are the imported smtpd services, in master.cf order,
	// with their listeners and the smtpd_milters they run.
	milterUsers []pfMilterUser
	// relayNets are relay_networks as written, for permit_mynetworks.
	relayNets []string
	// rgroups are the imported services by the restriction lists they
	// ask, each with what became of its lists' elements (pfRGroup.out)
	// and its filter stage; filterStages are the stages' names.
	rgroups      []*pfRGroup
	filterStages []string
	// passServices are the master.cf lines of the smtpd pass services
	// whose -o options a postscreen listener took (postscreenOptions),
	// true once those it did not take are listed (postscreenUnused).
	passServices map[int]bool
	// The policy stages' names by pfElemKey of main.cf's lists;
	// verifyParam is the list whose reject_unverified_recipient the
	// verify stages are for, verifyNone why none was written.
	policyNames             map[string]string
	verifyParam, verifyNone string
	// authWritten is true once the draft has [auth] with a user base
	// (dovecot_socket): smtp listeners would offer AUTH.
	authWritten bool
}

// note records what was read and not carried over.
func (im *importer) note(param, why string) {
	im.p.used[param] = true
	order := 1 << 30
	what := param
	if i, ok := im.p.byName[param]; ok {
		order = im.p.params[i].line
		what = param + " = " + im.p.params[i].value
	}
	im.notes = append(im.notes, pfNote{order: order, what: what, why: why})
}

// noteAt records a master.cf or table line not carried over.
func (im *importer) noteAt(what, why string) {
	im.notes = append(im.notes, pfNote{order: 1<<30 + len(im.notes), what: what, why: why})
}

// kv writes "# from" and then "key = value" (value already TOML).
func kv(b *strings.Builder, from, key, value string) {
	fmt.Fprintf(b, "# %s\n%s = %s\n", tomlComment(from), key, value)
}

// tomlComment is s fit for a TOML comment, which may hold no control
// character but tab and must be UTF-8 (TOML 1.0, "Comment"): main.cf,
// master.cf and table lines may hold either, and a comment quoting them
// must not make the draft unparseable. Each such rune becomes U+FFFD.
func tomlComment(s string) string {
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t') || r == 0x7f {
			return utf8.RuneError
		}
		return r // strings.Map already turned invalid bytes into U+FFFD
	}, s)
}

// tomlStr is s as a TOML basic string.
func tomlStr(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// tomlStrs is a TOML array of strings.
func tomlStrs(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlStr(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func (im *importer) run() error {
	p := im.p
	from := "myhostname"
	if !p.set("myhostname") {
		from = "myhostname (not set: this machine's name, Postfix's default)"
	}
	kv(&im.top, from, "hostname", tomlStr(p.take("myhostname")))
	kv(&im.top, "no Postfix parameter: Sluice's own queue (Postfix's queue_directory holds Postfix's)", "data_dir", tomlStr("/var/lib/sluice"))
	route := &pfRoute{}
	if err := im.aliases(route); err != nil {
		return err
	}
	if err := im.bccMaps(route); err != nil {
		return err
	}
	if err := im.canonicalMaps(route); err != nil {
		return err
	}
	if err := im.localDomains(route); err != nil {
		return err
	}
	if err := im.relayNetworks(); err != nil {
		return err
	}
	im.topLevelFlags()
	im.rejectFooter()
	im.unauthPipelining()
	im.bareNewline()
	fmt.Fprintf(&im.body, "\n[admin]\n")
	kv(&im.body, "no Postfix parameter: the admin API that sluice queue (mailq, postqueue, postsuper) talks to", "listen", tomlStr("127.0.0.1:8025"))
	im.limits()
	im.auth()
	im.listeners()
	if err := im.transports(route); err != nil {
		return err
	}
	relay := im.delivery(route)
	im.body.WriteString(im.restrictionStage())
	im.routeStage(route)
	policyEarly, policyLate := im.policyStages()
	im.body.WriteString(policyEarly)
	im.verifyStages(route)
	im.body.WriteString(policyLate)
	im.restrictionNotes()
	im.milters()
	im.body.WriteString(relay)
	im.rest()
	return nil
}

// text is the whole file.
func (im *importer) text(dir string) string {
	var b strings.Builder
	read := "main.cf, master.cf"
	if im.p.services == nil {
		read = "main.cf; " + pfNoMaster // as the listener's comment says
	}
	fmt.Fprintf(&b, "# sluice.toml drafted by sluice import-postfix from %s (%s).\n", tomlComment(dir), read)
	b.WriteString("# A draft to read, not a finished config: check each setting, then the list\n")
	b.WriteString("# at the end of what was not carried over, and run sluice check-config.\n")
	if len(im.p.expanded) > 0 {
		fmt.Fprintf(&b, "# Expanded where other parameters name them: %s.\n", tomlComment(strings.Join(im.p.expanded, ", ")))
	}
	if im.origin != "" {
		fmt.Fprintf(&b, "# %s\n", tomlComment(im.origin))
	}
	b.WriteString("\n")
	b.WriteString(im.top.String())
	b.WriteString(im.body.String())
	sort.SliceStable(im.notes, func(i, j int) bool { return im.notes[i].order < im.notes[j].order })
	if len(im.notes) == 0 {
		b.WriteString("\n# Every parameter read was carried over.\n")
		return b.String()
	}
	b.WriteString("\n# Read but not carried over:\n")
	for _, n := range im.notes {
		fmt.Fprintf(&b, "#   %s\n#       %s\n", tomlComment(oneLine(n.what)), tomlComment(oneLine(n.why)))
	}
	return b.String()
}

// oneLine keeps a note on one comment line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// domainList reads a Postfix domain list: names, "/file/name" (its
// words) and type:table (its keys).
func (im *importer) domainList(param string) ([]string, error) {
	var out []string
	for _, e := range pfList(im.p.take(param)) {
		switch {
		case strings.HasPrefix(e, "/"):
			data, err := pfReadFile(im.p.localPath(e))
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", param, e, pathErr(err))
			}
			for _, l := range pfLogicalLines(data) {
				out = append(out, pfList(l.text)...)
			}
		case strings.Contains(e, ":"):
			entries, _, err := im.hashTable(param, e, "add its domains to local_domains")
			if err != nil {
				return nil, err
			}
			for _, en := range entries {
				out = append(out, en.key)
			}
		default:
			out = append(out, e)
		}
	}
	return out, nil
}

func (im *importer) localDomains(route *pfRoute) error {
	p := im.p
	var domains, from []string
	seen := map[string]bool{}
	add := func(ds []string) {
		for _, d := range ds {
			d = strings.ToLower(strings.TrimSuffix(d, "."))
			if d != "" && !seen[d] {
				seen[d] = true
				domains = append(domains, d)
			}
		}
	}
	params := []string{"mydestination", "virtual_mailbox_domains", "relay_domains"}
	if p.set("virtual_alias_domains") {
		params = append(params, "virtual_alias_domains")
	}
	for _, param := range params {
		if param != "mydestination" && !p.set(param) {
			continue
		}
		ds, err := im.domainList(param)
		if err != nil {
			return err
		}
		add(ds)
		switch {
		case param == "mydestination" && !p.set(param):
			from = append(from, "mydestination (not set: Postfix's default, $myhostname, localhost.$mydomain, localhost)")
		case param == "relay_domains":
			from = append(from, "relay_domains (give each a route rule with its next hop)")
		default:
			from = append(from, param)
		}
	}
	// virtual_alias_domains' default, $virtual_alias_maps: the domains
	// written alone as keys of those tables.
	if !p.set("virtual_alias_domains") && len(route.aliasDomains) > 0 {
		add(route.aliasDomains)
		from = append(from, "virtual_alias_domains (not set: the domain keys of virtual_alias_maps)")
	}
	kv(&im.top, strings.Join(from, ", "), "local_domains", tomlStrs(domains))
	if !p.set("mailbox_transport") {
		// Postfix hands mail for these to local(8); Sluice would send
		// it on by the default route.
		im.note("mydestination", "its domains are Postfix's local(8) delivery, which Sluice has none of: route them to a mailbox server (an lmtp: rule) or drop them from local_domains")
	}
	return nil
}

func (im *importer) relayNetworks() error {
	p := im.p
	if !p.set("mynetworks") {
		im.relayNets = []string{"127.0.0.0/8", "::1"}
		kv(&im.top, "mynetworks (not set: Postfix trusts this machine's own addresses, mynetworks_style = host; add its public ones)", "relay_networks", tomlStrs(im.relayNets))
		return nil
	}
	var nets []string
	var bad []string
	var entries []string
	for _, e := range pfList(p.take("mynetworks")) {
		if strings.HasPrefix(e, "/") {
			data, err := pfReadFile(p.localPath(e))
			if err != nil {
				return fmt.Errorf("mynetworks: %s: %w", e, pathErr(err))
			}
			for _, l := range pfLogicalLines(data) {
				entries = append(entries, pfList(l.text)...)
			}
			continue
		}
		entries = append(entries, e)
	}
	for _, e := range entries {
		n, ok := pfNetwork(e)
		if !ok {
			bad = append(bad, e)
			continue
		}
		nets = append(nets, n)
	}
	if len(bad) > 0 {
		im.note("mynetworks", fmt.Sprintf("%s: relay_networks takes addresses and CIDR networks only (no host names, tables or !exclusions)", strings.Join(bad, " ")))
	}
	im.relayNets = nets
	kv(&im.top, "mynetworks", "relay_networks", tomlStrs(nets))
	return nil
}

// pfNetwork is a mynetworks-style entry (mynetworks,
// smtpd_authorized_xclient_hosts, smtpd_forbid_bare_newline_exclusions)
// as core/config reads a network (relay_networks, xclient_hosts,
// bare_newline_exclusions): an address or a CIDR network, IPv6 in
// Postfix's brackets ([2001:db8::]/32) or not. ok is false for anything
// else: a host name, a file, a table, an !exclusion.
func pfNetwork(e string) (string, bool) {
	n := e
	if strings.HasPrefix(n, "[") {
		if i := strings.IndexByte(n, ']'); i > 0 {
			n = n[1:i] + n[i+1:]
		}
	}
	var pf config.Prefix
	if err := pf.UnmarshalText([]byte(n)); err != nil {
		return "", false
	}
	return n, true
}

func (im *importer) topLevelFlags() {
	p := im.p
	from := "smtpd_delay_reject"
	if !p.set("smtpd_delay_reject") {
		from += " (not set: Postfix's default, yes)"
	}
	kv(&im.top, from, "delay_reject", strconv.FormatBool(pfYes(p.take("smtpd_delay_reject"))))
	if p.set("soft_bounce") {
		kv(&im.top, "soft_bounce", "soft_bounce", strconv.FormatBool(pfYes(p.take("soft_bounce"))))
	}
}

func (im *importer) limits() {
	var b strings.Builder
	im.messageSizeLimit(&b)
	im.clientLimits(&b)
	im.sessionLimits(&b)
	if b.Len() > 0 {
		fmt.Fprintf(&im.body, "\n[limits]\n%s", b.String())
	}
}

// messageSizeLimit writes message_size_limit, or Postfix's default, as
// max_message_size to b.
func (im *importer) messageSizeLimit(b *strings.Builder) {
	p := im.p
	n, err := strconv.ParseInt(p.value("message_size_limit"), 10, 64)
	switch {
	case err != nil || n < 0:
		im.note("message_size_limit", "not a number of bytes")
		return
	case n == 0:
		im.note("message_size_limit", "0, no limit: Sluice always has one ([limits] max_message_size, 50 MiB by default)")
		return
	}
	from := "message_size_limit"
	if !p.set(from) {
		from += " (not set: Postfix's default, 10240000; Sluice's is 50 MiB)"
	}
	p.take("message_size_limit")
	kv(b, from, "max_message_size", strconv.FormatInt(n, 10))
}

// saslOption is a SASL parameter from main.cf, else from a submission
// or smtps service's -o, where Debian's master.cf sets them.
func (im *importer) saslOption(name string) (value, from string) {
	if im.p.set(name) {
		return im.p.take(name), name
	}
	for _, s := range im.p.services {
		if v, ok := s.opts[name]; ok && s.typ == "inet" {
			s.used[name] = true
			return im.p.expand(v), fmt.Sprintf("%s (master.cf %s -o)", name, s.name)
		}
	}
	return im.p.value(name), name
}

func (im *importer) auth() {
	typ, typFrom := im.saslOption("smtpd_sasl_type")
	enabled, _ := im.saslOption("smtpd_sasl_auth_enable")
	switch {
	case typ == "dovecot":
		path, pathFrom := im.saslOption("smtpd_sasl_path")
		if !strings.HasPrefix(path, "inet:") {
			smtp, _ := im.p.service("smtp", "inet")
			path = im.p.queuePath(strings.TrimPrefix(path, "unix:"), smtp.chrooted())
		}
		from := typFrom + " = dovecot, " + pathFrom + " (relative to queue_directory)"
		if im.p.set("smtpd_sasl_auth_enable") {
			im.p.take("smtpd_sasl_auth_enable")
			from = "smtpd_sasl_auth_enable, " + from
		}
		fmt.Fprintf(&im.body, "\n[auth]\n")
		kv(&im.body, from, "dovecot_socket", tomlStr(path))
		im.authWritten = true
		im.authSenders()
	case pfYes(enabled):
		im.note("smtpd_sasl_auth_enable", "Cyrus SASL (smtpd_sasl_type = "+typ+"): none; [auth] users_file (sluice user add) or Dovecot's dovecot_socket")
	}
}
