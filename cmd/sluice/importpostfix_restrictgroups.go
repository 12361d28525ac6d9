package main

import (
	"fmt"
	"slices"
	"strings"
)

// pfRGroup is the imported services that ask the same restriction
// lists: main.cf's, or main.cf's with some replaced by the services'
// own master.cf -o, as Postfix applies a service's -o over main.cf
// (master(5)). Each group with rules gets its own filter stage, whose
// listeners are the group's; main.cf's policy and verify stages serve
// the groups that ask their list.
type pfRGroup struct {
	services  []string // "master.cf submission", for the comments
	wheres    []string // "master.cf:3 submission", for the notes
	listeners []string
	// submission: every listener is a submission one, where no session
	// gets to MAIL before AUTH.
	submission bool
	// own are the lists the services' -o replace, expanded, and as
	// written; key is them in one string, and kind with it, to find the
	// group (submission services apart, as their stages may differ:
	// submissionSpared).
	own, ownRaw map[string]string
	key, kind   string
	// out is what became of each element of the group's lists, by
	// pfElemKey; stage the group's filter stage, "" for none.
	out   map[string]pfOutcome
	stage string
	// policies are the policy stages' names of its own lists'
	// check_policy_service, by pfElemKey (ownPolicies).
	policies map[string]string
	// order places the notes of the group's own lists after its first
	// service's other master.cf notes (pfNote.order).
	order int
}

// list is the value of restriction list param for the group's
// services, and whether it is set (main.cf's, or their own).
func (g *pfRGroup) list(p *pfConf, param string) (string, bool) {
	if v, ok := g.own[param]; ok {
		return v, true
	}
	return p.value(param), p.set(param)
}

// replaces reports whether the group's services have their own param.
func (g *pfRGroup) replaces(param string) bool {
	_, ok := g.own[param]
	return ok
}

// from names list param where the group's services take it from, for
// the rules' comments and the notes.
func (g *pfRGroup) from(param string) string {
	if g.replaces(param) {
		return strings.Join(g.services, ", ") + " -o " + param
	}
	return param
}

// label names the group's services in a note.
func (g *pfRGroup) label() string { return strings.Join(g.wheres, ", ") }

// restrictionUser records service s's listeners with the restriction
// lists it asks: its own -o smtpd_*_restrictions, which are carried
// over (a filter stage for its listeners), else main.cf's.
func (im *importer) restrictionUser(s pfService, where string, listeners []string, submission bool) {
	if len(listeners) == 0 {
		return
	}
	own, raw := map[string]string{}, map[string]string{}
	var key []string
	for i := range pfRLists {
		l := &pfRLists[i]
		v, ok := s.opts[l.param]
		if !ok {
			continue
		}
		s.used[l.param] = true
		items := pfListText(l, im.p.expand(v))
		if items == pfListText(l, im.p.value(l.param)) {
			continue // main.cf's list again ("$smtpd_client_restrictions", or empty as main.cf's)
		}
		own[l.param], raw[l.param] = im.p.expand(v), v
		key = append(key, l.param+"="+items)
	}
	k, kind := strings.Join(key, "\n"), map[bool]string{true: "submission", false: "smtp"}[submission]
	for _, g := range im.rgroups {
		if g.key == k && g.kind == kind {
			// Once each: two postscreen services may share a pass service.
			g.services = appendOnce(g.services, "master.cf "+s.name)
			g.wheres = appendOnce(g.wheres, where)
			g.listeners = append(g.listeners, listeners...)
			return
		}
	}
	im.rgroups = append(im.rgroups, &pfRGroup{services: []string{"master.cf " + s.name}, wheres: []string{where},
		listeners: slices.Clone(listeners), submission: submission, own: own, ownRaw: raw, key: k, kind: kind, order: -1})
}

// restrictionNotesHere places the notes of the group whose listeners
// start with listeners[0] after the notes written so far, when it has no
// place yet: listeners calls it once a service's own notes are written.
func (im *importer) restrictionNotesHere(listeners []string) {
	for _, g := range im.rgroups {
		if len(listeners) > 0 && slices.Contains(g.listeners, listeners[0]) && g.order < 0 {
			g.order = 1<<30 + len(im.notes) - 1
		}
	}
}

// noteFor records a note of group g's own lists, with its services'
// other master.cf notes.
func (im *importer) noteFor(g *pfRGroup, what, why string) {
	order := g.order
	if order < 0 {
		order = 1<<30 + len(im.notes)
	}
	im.notes = append(im.notes, pfNote{order: order, what: what, why: why})
}

// restrictionGroups are the groups in the order their stages are
// written: main.cf's lists first, then those of services with their
// own, in master.cf order; one group for every listener when no service
// was recorded.
func (im *importer) restrictionGroups() []*pfRGroup {
	if len(im.rgroups) == 0 {
		im.rgroups = []*pfRGroup{{own: map[string]string{}, ownRaw: map[string]string{}}}
	}
	own := func(g *pfRGroup) int {
		if g.key == "" {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(im.rgroups, func(a, b *pfRGroup) int { return own(a) - own(b) })
	return im.rgroups
}

// askedBy is the listeners of the services that ask main.cf's list
// param, and who they are; all when every service does (a stage for
// param needs no listeners key then).
func (im *importer) askedBy(param string) (listeners, who []string, all bool) {
	all = true
	for _, g := range im.rgroups {
		if g.replaces(param) {
			all = false
			continue
		}
		listeners = append(listeners, g.listeners...)
		who = append(who, g.services...)
	}
	return listeners, who, all
}

// listenersKey writes the listeners key of a stage for main.cf's list
// param when not every service asks it; false when none does, and no
// stage is to be written.
func (im *importer) listenersKey(b *strings.Builder, param string) bool {
	ls, who, all := im.askedBy(param)
	switch {
	case all:
		return true
	case len(ls) == 0:
		return false
	}
	kv(b, fmt.Sprintf("the listeners of the services that ask main.cf's %s: %s (the others replace it with their own -o)", param, strings.Join(who, ", ")),
		"listeners", tomlStrs(ls))
	return true
}

// refGroup is the first group asking main.cf's list param, whose
// outcomes the notes of param give; nil when every service has its own.
func (im *importer) refGroup(param string) *pfRGroup {
	for _, g := range im.rgroups {
		if !g.replaces(param) {
			return g
		}
	}
	return nil
}
