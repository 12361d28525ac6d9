package main

import "slices"

// pfReached reports whether Postfix gets to the restriction after
// before, its list's restrictions before it: none of them ends the list
// for every client (pfEnds). One it never gets to becomes no stage,
// which would ask the server (or probe) where Postfix never does.
func pfReached(before []pfElem) bool { return !slices.ContainsFunc(before, pfEnds) }

// pfPolicyOf is the check_policy_service elems[n] of list pfRLists[li].
func pfPolicyOf(li int, elems []pfElem, n int) pfPolicy {
	e := elems[n]
	pol := pfPolicy{param: e.list.param, hook: e.list.policy, pos: li*1000 + e.idx, key: e.key(), before: elems[:n]}
	pol.endpoint, pol.settings = pfPolicySpec(e.arg)
	return pol
}

// ownPolicies are the check_policy_service of the services' own -o
// restriction lists: each a policy stage for the listeners of the
// services that have that list, as the filter stage of their lists is
// theirs (restrictionStage). Groups that differ in kind alone share
// their stages.
func (im *importer) ownPolicies() []pfPolicy {
	var all []string
	for _, g := range im.rgroups {
		all = append(all, g.listeners...)
	}
	var out []pfPolicy
	done := map[string]bool{}
	for _, g := range im.rgroups {
		if g.key == "" || done[g.key] {
			continue
		}
		done[g.key] = true
		var groups []*pfRGroup
		var listeners []string
		for _, o := range im.rgroups {
			if o.key == g.key {
				groups = append(groups, o)
				listeners = append(listeners, o.listeners...)
				if o.policies == nil {
					o.policies = map[string]string{}
				}
			}
		}
		if len(listeners) == len(all) {
			listeners = nil // every service's: no listeners key
		}
		for li := range pfRLists {
			l := &pfRLists[li]
			if !g.replaces(l.param) {
				continue
			}
			elems := pfElems(l, g.own[l.param])
			for n, e := range elems {
				if e.name != pfPolicyRestriction || e.arg == "" || !pfReached(elems[:n]) {
					continue
				}
				pol := pfPolicyOf(li, elems, n)
				pol.groups, pol.listeners = groups, slices.Clone(listeners)
				out = append(out, pol)
			}
		}
	}
	return out
}
