package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/core/config"
)

// pfPolicyRestriction is what becomes policy stages.
const pfPolicyRestriction = "check_policy_service"

// pfPolicyStates are the protocol_state of each hook's requests.
var pfPolicyStates = map[string]string{"connect": "CONNECT", "helo": "EHLO", "mail": "MAIL", "rcpt": "RCPT", "data": "DATA", "end-of-data": "END-OF-MESSAGE"}

// pfPolicySettings are the smtpd_policy_service_* parameters, by the
// name a { … } setting and the stage's key share, and how each is read:
// a time (seconds by default), a count, or a text.
var pfPolicySettings = []struct{ name, kind string }{
	{"timeout", "time"}, {"max_idle", "time"}, {"max_ttl", "time"}, {"retry_delay", "time"},
	{"request_limit", "count"}, {"try_limit", "count"},
	{"default_action", "text"}, {"policy_context", "text"},
}

// pfPolicy is one check_policy_service of a restriction list.
type pfPolicy struct {
	param, hook string
	pos         int      // its list's place in pfRLists, times 1000, and its own in the list
	key         string   // its pfElemKey
	endpoint    string   // inet:… or unix:…, as written
	settings    []string // the { … } settings, "name=value" each
	before      []pfElem // the restrictions before it in its list
	// groups are the services' groups whose own -o list it is in, nil
	// for main.cf's (ownPolicies); listeners their listeners, nil when
	// every imported service is theirs.
	groups    []*pfRGroup
	listeners []string
}

// services names the services whose own list pol is in.
func (pol pfPolicy) services() string {
	var services []string
	for _, g := range pol.groups {
		services = append(services, g.services...)
	}
	return strings.Join(services, ", ")
}

// from names pol's list where the services take it from, for the
// stage's comments and the notes.
func (pol pfPolicy) from() string {
	if len(pol.groups) == 0 {
		return pol.param
	}
	return pol.services() + " -o " + pol.param
}

// policyStages writes a policy stage for each check_policy_service of
// the restriction lists, main.cf's and the services' own -o ones
// (ownPolicies), in the lists' order; early are those that go before
// the verify stages (Postfix asks them first), late the others. Each
// stage's hook is its list's, its settings main.cf's
// smtpd_policy_service_* and the { … } settings that override them;
// permit_sasl_authenticated and permit_mynetworks before it in its list
// are the default skip_authenticated and skip_relay_clients, and their
// absence turns them off.
func (im *importer) policyStages() (early, late string) {
	p := im.p
	var found []pfPolicy
	verifyList, verifyPos := -1, 0
	for li := range pfRLists {
		l := &pfRLists[li]
		if !p.set(l.param) {
			continue
		}
		if ls, _, all := im.askedBy(l.param); !all && len(ls) == 0 {
			// Every service has its own list (restrictionNotes).
			continue
		}
		elems := pfElems(l, p.value(l.param))
		for n, e := range elems {
			switch {
			case !pfReached(elems[:n]):
				// Postfix never asks it (the filter stage lists it).
			case e.name == pfVerifyRestriction && verifyList < 0 && l.hook == "rcpt":
				verifyList, verifyPos = li, e.idx
			case e.name == pfPolicyRestriction && e.arg != "":
				found = append(found, pfPolicyOf(li, elems, n))
			}
		}
	}
	// A service's list comes in its place among main.cf's, which its
	// listeners ask beside it, as Postfix asks the lists in turn.
	found = append(found, im.ownPolicies()...)
	slices.SortStableFunc(found, func(a, b pfPolicy) int { return a.pos - b.pos })
	im.policyNames = map[string]string{}
	var eb, lb strings.Builder
	for n, pol := range found {
		name := "policy"
		if n > 0 {
			name += "-" + strconv.Itoa(n+1)
		}
		if len(pol.groups) == 0 {
			im.policyNames[pol.key] = name
		}
		for _, g := range pol.groups {
			g.policies[pol.key] = name
		}
		b := &lb
		if verifyList < 0 || pol.pos < verifyList*1000+verifyPos {
			b = &eb
		}
		im.policyStage(b, name, pol)
	}
	// The lists themselves are listed with the filter stage's
	// (restrictionNotes).
	if len(found) == 0 {
		for _, s := range pfPolicySettings {
			if prm := "smtpd_policy_service_" + s.name; p.set(prm) {
				im.note(prm, "a policy stage's, for "+pfPolicyRestriction+", which no restriction list names")
			}
		}
	}
	return eb.String(), lb.String()
}

// policyStage writes pol's stage.
func (im *importer) policyStage(b *strings.Builder, name string, pol pfPolicy) {
	fmt.Fprintf(b, "\n# %s: Postfix's %s %s\n", tomlComment(pol.from()), pfPolicyRestriction, tomlComment(pol.endpoint))
	fmt.Fprintf(b, "[[stage]]\nname = %s\nplugin = %s\n", tomlStr(name), tomlStr("policy"))
	switch {
	case len(pol.groups) == 0:
		im.listenersKey(b, pol.param)
	case len(pol.listeners) > 0:
		kv(b, "the listeners of the services whose own list this is: "+pol.services(), "listeners", tomlStrs(pol.listeners))
	}
	// The config comes first, for the stage's timeout, written before
	// it, to hold the tries it asks for.
	var cfg strings.Builder
	tries := im.policyConfig(&cfg, pol)
	tries.write(b)
	b.WriteString("[stage.config]\n")
	b.WriteString(cfg.String())
}

// policyConfig writes pol's [stage.config] keys, and returns the tries
// they ask for.
func (im *importer) policyConfig(b *strings.Builder, pol pfPolicy) *pfPolicyTries {
	p := im.p
	server, why := im.policyServer(pol.endpoint)
	if why != "" {
		im.noteAt(pfPolicyRestriction+" "+pol.endpoint+" in "+pol.from(), why)
	}
	kv(b, pfPolicyRestriction+" "+pol.endpoint, "server", tomlStr(server))
	hook, delayed := pol.hook, pfYes(p.value("smtpd_delay_reject"))
	asked := "in " + pol.from() + ": asked at " + pfPolicyStates[hook]
	switch {
	case (hook == "connect" || hook == "helo") && delayed && pfNamed(pol.before, "permit_sasl_authenticated"):
		// Postfix asks the list at RCPT, after AUTH, where the permit
		// lets an authenticated session through; at connect or helo the
		// stage would ask before AUTH, the site's own users too. From
		// mail on it skips them (skip_authenticated), as the filter's
		// rules after the permit are moved to mail.
		hook = "mail"
		asked = "in " + pol.from() + ": asked at MAIL, where skip_authenticated spares a session that authenticated as permit_sasl_authenticated before it does; Postfix, with smtpd_delay_reject = yes, asks this list at each RCPT, after AUTH (protocol_state=RCPT), and at " + pfPolicyStates[pol.hook] + " the stage would ask before AUTH"
	case (hook == "connect" || hook == "helo" || hook == "mail") && delayed:
		// smtpd_check_rcpt runs the lists before its own at each RCPT.
		asked += " (Postfix, with smtpd_delay_reject = yes, asked at each RCPT, with protocol_state=RCPT)"
	}
	kv(b, asked, "hooks", tomlStrs([]string{hook}))
	own := map[string]string{}
	for _, s := range pol.settings {
		k, v, _ := strings.Cut(s, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !pfPolicyKnown(k) {
			im.noteAt(pfPolicyRestriction+" "+pol.endpoint+" "+s, "none: the policy stage's keys are the smtpd_policy_service_* settings")
			continue
		}
		own[k] = v
	}
	tries := pfPolicyTriesOf()
	for _, s := range pfPolicySettings {
		prm := "smtpd_policy_service_" + s.name
		v, from := own[s.name], pfPolicyRestriction+" { "+pol.endpoint+", "+s.name+"="+own[s.name]+" }"
		if _, ok := own[s.name]; !ok {
			if !p.set(prm) {
				continue
			}
			v, from = p.take(prm), prm
		}
		switch s.kind {
		case "time":
			d, ok := pfTime(v, "s")
			var dur config.Duration
			if !ok || dur.UnmarshalText([]byte(d)) != nil || dur.Duration == 0 && s.name != "retry_delay" {
				im.noteAt(from+" = "+v, "not a positive time: the stage's default")
				continue
			}
			kv(b, from, s.name, tomlStr(d))
			tries.set(s.name, from, d, dur.Duration, 0)
		case "count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n == 0 && s.name == "try_limit" {
				im.noteAt(from+" = "+v, "not a count: the stage's default")
				continue
			}
			kv(b, from, s.name, v)
			tries.set(s.name, from, v, 0, n)
		default:
			kv(b, from, s.name, tomlStr(v))
		}
	}
	pfSkipKeys(b, pol.before, pfPolicyRestriction)
	return tries
}

// pfSkipKeys writes a policy or verify stage's skip_authenticated and
// skip_relay_clients false when no permit_sasl_authenticated or
// permit_mynetworks comes before restriction in its list (before): the
// stage skips those clients by default, as the permits would.
func pfSkipKeys(b *strings.Builder, before []pfElem, restriction string) {
	if !pfNamed(before, "permit_sasl_authenticated") {
		kv(b, "no permit_sasl_authenticated before "+restriction, "skip_authenticated", "false")
	}
	if !pfNamed(before, "permit_mynetworks") {
		kv(b, "no permit_mynetworks before "+restriction, "skip_relay_clients", "false")
	}
}

// policyServer is the server key for a check_policy_service endpoint,
// and why it may not serve as it did: unix:NAME is under
// queue_directory, as smtpd reads it, and a server master.cf starts
// with spawn(8) is not started by Sluice.
func (im *importer) policyServer(endpoint string) (server, why string) {
	p := im.p
	kind, addr, _ := strings.Cut(endpoint, ":")
	server = endpoint
	if kind == "unix" {
		smtp, _ := p.service("smtp", "inet")
		server = "unix:" + p.queuePath(addr, smtp.chrooted())
	}
	service := addr
	if kind == "unix" {
		service = strings.TrimPrefix(addr, "private/")
	}
	for _, s := range p.services {
		if s.name == service && s.command == "spawn" {
			return server, fmt.Sprintf("master.cf runs this server under spawn(8) (%s %s … spawn %s), which Sluice does not: run it as a daemon of its own listening there, by hand",
				s.name, s.typ, strings.Join(s.args, " "))
		}
	}
	return server, ""
}

func pfPolicyKnown(name string) bool {
	for _, s := range pfPolicySettings {
		if s.name == name {
			return true
		}
	}
	return false
}

// pfPolicySpec reads check_policy_service's argument: an endpoint, or
// Postfix 3's "{ endpoint, name=value, { name = value } … }" with its
// per-client settings (SMTPD_POLICY_README, "Advanced policy client
// configuration").
func pfPolicySpec(arg string) (endpoint string, settings []string) {
	inner, braced := pfUnbrace(arg)
	if !braced {
		return arg, nil
	}
	items := pfRestrictionList(inner)
	if len(items) == 0 {
		return "", nil
	}
	for _, it := range items[1:] {
		it, _ = pfUnbrace(it)
		settings = append(settings, it)
	}
	return items[0], settings
}
