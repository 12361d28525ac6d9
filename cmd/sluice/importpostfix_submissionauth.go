package main

import (
	"strconv"
	"strings"
)

// pfListLets says whether list lets a client that has not authenticated
// through, for mail to the server's own domains: an unconditional reject
// or defer refuses it unless a permit that matches it (permit, and
// permit_mynetworks for mynetworks' hosts) comes first; one after
// warn_if_reject only logs (pfEnds). Conditional
// elements (tables, reject_unauth_destination, permit_sasl_authenticated)
// are taken not to decide, as they do not for such a client's own-domain
// mail in the stock lists.
func pfListLets(list []pfElem, mynetworks bool) bool {
	for _, e := range list {
		switch e.name {
		case "permit":
			return true
		case "permit_mynetworks":
			if mynetworks {
				return true
			}
		case "reject", "defer":
			if pfEnds(e) { // under warn_if_reject Postfix only logs
				return false
			}
		}
	}
	return true
}

// unauthClients names the clients Postfix serves on service s without
// AUTH: "" when its lists (the service's -o, else main.cf's) refuse every
// such client. Sluice's submission listeners refuse MAIL before AUTH
// from every client (530 5.7.0; RFC 6409 §4.3 would let a protected
// subnetwork skip it), so these are refused after the migration, and
// the listener's comment says so.
func (im *importer) unauthClients(s pfService) string {
	lets := func(mynetworks bool) bool {
		// Postfix asks each list in turn: a permit ends only its own.
		for i := range pfRLists {
			l := &pfRLists[i]
			v := im.p.value(l.param)
			if o, ok := s.opts[l.param]; ok {
				v = im.p.expand(o)
			}
			if !pfListLets(pfElems(l, v), mynetworks) {
				return false
			}
		}
		return true
	}
	switch {
	case lets(false):
		return "every client for mail to its own domains, and mynetworks' hosts (permit_mynetworks) for any"
	case lets(true):
		return "mynetworks' hosts (permit_mynetworks)"
	}
	return ""
}

// submissionAuthComment is the draft's comment on a submission or
// submissions listener where Postfix served clients without AUTH (SASL
// off, or restrictions that let them through): "" where it did not.
func (im *importer) submissionAuthComment(s pfService, port int, implicitTLS bool) string {
	who := im.unauthClients(s)
	if who == "" {
		return ""
	}
	sasl := "SASL on"
	v, from := im.p.value("smtpd_sasl_auth_enable"), "smtpd_sasl_auth_enable"
	if o, ok := s.opts["smtpd_sasl_auth_enable"]; ok {
		v, from = im.p.expand(o), "-o smtpd_sasl_auth_enable"
	}
	if !pfYes(v) {
		sasl = "SASL off"
		if strings.TrimSpace(v) != "" {
			sasl += ", " + from + " = " + strings.TrimSpace(v)
		} else {
			sasl += ", smtpd_sasl_auth_enable not set"
		}
	}
	c := "Postfix served clients here without AUTH (" + sasl + "): " + who + "; this listener refuses MAIL before AUTH (530 5.7.0) from every client, so they are refused until they authenticate. "
	if implicitTLS {
		return c + "No listener takes mail over implicit TLS without AUTH (a submissions listener always asks for it): a listener of kind = \"smtp\" on port 587 with tls_required = true (STARTTLS) serves them, once they send there"
	}
	return c + "To keep serving them, write a listener of kind = \"smtp\" on port " + strconv.Itoa(port) + " with tls_required = true in place of this one"
}
