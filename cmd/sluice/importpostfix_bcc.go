package main

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/core/envelope"
)

// pfBcc is one entry of an address table (sender_bcc_maps,
// recipient_bcc_maps, sender_canonical_maps), as the route stage's
// sender_bcc, recipient_bcc or sender_canonical writes it.
type pfBcc struct {
	key, addr, from string
}

// bccMaps carries always_bcc, sender_bcc_maps and recipient_bcc_maps
// (hash-style tables, read as virtual_alias_maps is) to the route
// stage's always_bcc, sender_bcc and recipient_bcc, which look an address
// up as Postfix's cleanup does (the address, without its extension, then
// @domain) and add the copy with NOTIFY=NEVER, as Postfix does. What the
// route stage would refuse at start is listed instead: a key but
// user@domain or @domain (a bare user, which Postfix looks up for its
// local domains only), a result but one full address.
func (im *importer) bccMaps(route *pfRoute) error {
	p := im.p
	if p.set("always_bcc") {
		a := strings.TrimSpace(p.value("always_bcc"))
		if a == "" {
			p.take("always_bcc") // Postfix's default: no copy, nothing to carry
		} else if why := pfBccAddr(a); why != "" {
			im.note("always_bcc", why)
		} else {
			p.take("always_bcc")
			route.alwaysBcc = a
			route.from = appendOnce(route.from, "always_bcc")
		}
	}
	for _, m := range []struct {
		param string
		out   *[]pfBcc
	}{{"sender_bcc_maps", &route.senderBcc}, {"recipient_bcc_maps", &route.recipientBcc}} {
		if !p.set(m.param) {
			continue
		}
		got, err := im.addrTables(route, m.param, "", pfBccAddr)
		if err != nil {
			return err
		}
		*m.out = got
	}
	return nil
}

// pfBccAddr says why a BCC result is not one the route stage takes ("" if
// it is).
func pfBccAddr(a string) string {
	switch {
	case len(pfList(a)) > 1:
		return "one address a key in Sluice: add the others by hand (a route alias of the copy's address to several)"
	case !strings.Contains(a, "@"):
		return "a bare name, which Postfix qualifies with $myorigin: write it with its domain"
	}
	if err := envelope.MailboxError(a); err != nil {
		return "not an address Sluice adds as a recipient: " + err.Error()
	}
	return ""
}

// writeBcc writes the route stage's BCC tables (always_bcc goes with the
// other [stage.config] keys).
func writeBcc(b *strings.Builder, route *pfRoute) {
	for _, t := range []struct {
		name    string
		entries []pfBcc
	}{{"sender_bcc", route.senderBcc}, {"recipient_bcc", route.recipientBcc}} {
		if len(t.entries) == 0 {
			continue
		}
		fmt.Fprintf(b, "[stage.config.%s]\n", t.name)
		for _, e := range t.entries {
			kv(b, e.from, tomlStr(e.key), tomlStr(e.addr))
		}
	}
}

// addrTables reads the hash-style tables main.cf's param names, whose keys
// are addresses looked up as Postfix's cleanup does (user@domain or
// @domain), into route entries: the key in lower case, the value as
// written, and where it came from. A key the route stage would refuse, a
// key an earlier line already holds (Postfix's lookup finds that one), a
// value check refuses (why says how) or a table of another kind is listed
// instead. stageKey names the route stage's key in the note for a table
// of another kind ("" for none).
func (im *importer) addrTables(route *pfRoute, param, stageKey string, check func(string) string) ([]pfBcc, error) {
	todo := "write its entries into the route stage"
	if stageKey != "" {
		todo += "'s " + stageKey
	}
	entries, read, err := im.hashTables(param, pfList(im.p.take(param)), todo)
	if err != nil {
		return nil, err
	}
	if read {
		route.from = appendOnce(route.from, param)
	}
	var out []pfBcc
	seen := map[string]bool{}
	for _, e := range entries {
		where := e.where()
		key := strings.ToLower(e.key)
		at := strings.LastIndexByte(key, '@')
		switch {
		case at < 0 || at == len(key)-1:
			im.noteAt(where, "a key is user@domain or @domain (a bare user is Postfix's for its local domains only: write it with each domain)")
			continue
		case seen[key]:
			im.noteAt(where, "the same key as an earlier line, which Postfix's lookup finds first")
			continue
		}
		if why := check(e.value); why != "" {
			im.noteAt(where, why)
			continue
		}
		seen[key] = true
		out = append(out, pfBcc{key: key, addr: e.value, from: param + " " + where})
	}
	return out, nil
}
