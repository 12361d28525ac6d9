package main

import (
	"fmt"
	"slices"
	"strings"
)

// pfMilterList splits a milter list, keeping Postfix 3's
// "{ inet:host:port, default_action=accept }" groups whole.
func pfMilterList(s string) []string {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " \t,") {
		if s[0] == '{' {
			end := strings.IndexByte(s, '}')
			if end < 0 {
				end = len(s) - 1
			}
			out = append(out, s[:end+1])
			s = s[end+1:]
			continue
		}
		end := strings.IndexAny(s, " \t,")
		if end < 0 {
			end = len(s)
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

// onErrors maps milter_default_action to a stage's on_error.
var onErrors = map[string]string{"tempfail": "tempfail", "accept": "continue", "reject": "reject"}

// pfMilter is one milter stage: each milter socket is one, whichever
// lists name it.
type pfMilter struct {
	written, addr, onErr, actionFrom, kind string
	params                                 []string
	timeout, dataTimeout                   pfTimeout
	every                                  bool            // for every listener
	listeners                              map[string]bool // else these
	who                                    []string        // whose listeners
}

// milters writes the milter stages of milterSources' lists, in their
// order, each milter once: a stage that not every imported listener's
// service runs gets those listeners as its listeners key.
func (im *importer) milters() {
	p := im.p
	def := p.value("milter_default_action")
	if p.set("milter_default_action") {
		p.take("milter_default_action")
	}
	smtp, _ := p.service("smtp", "inet")
	var list []*pfMilter
	seen := map[string]*pfMilter{}
	var times *pfMilterTimes
	sources := im.milterSources()
	orders := make([][]*pfMilter, len(sources)) // each list's milters, in its order
	for si, src := range sources {
		param := src.param
		for _, m := range pfMilterList(src.list) {
			action, own := def, false
			addr := m // as written, without Postfix 3's { … } settings
			settings := map[string]string{}
			if strings.HasPrefix(m, "{") {
				parts := strings.Split(strings.Trim(m, "{} "), ",")
				addr = strings.TrimSpace(parts[0])
				for _, kvp := range parts[1:] {
					k, v, _ := strings.Cut(strings.TrimSpace(kvp), "=")
					switch k = strings.TrimSpace(k); k {
					case "default_action":
						action, own = strings.TrimSpace(v), true
					case "connect_timeout", "command_timeout", "content_timeout":
						settings[k] = strings.TrimSpace(v)
					default:
						im.noteAt(param+" "+addr+" "+strings.TrimSpace(kvp), "per-milter settings other than default_action and the timeouts: none")
					}
				}
			}
			ml := seen[addr]
			if ml != nil {
				ml.params = appendOnce(ml.params, param) // one stage for every list
				if strings.Join(strings.Fields(m), "") != strings.Join(strings.Fields(ml.written), "") {
					im.noteAt(param+" "+m, fmt.Sprintf("one stage a milter, with the settings %s gives it: %s", ml.params[0], ml.written))
				}
			} else {
				if times == nil {
					times = im.milterTimes()
				}
				written := addr
				kind, path, _ := strings.Cut(addr, ":")
				switch kind {
				case "unix", "local":
					addr = "unix:" + p.queuePath(path, smtp.chrooted())
				case "inet", "inet6", "tcp":
				default:
					if src.main {
						im.note(param, addr+": want inet:HOST:PORT or unix:PATH")
					} else {
						im.noteAt(src.where+"="+src.list, addr+": want inet:HOST:PORT or unix:PATH")
					}
					continue
				}
				onErr, ok := onErrors[action]
				actionFrom := "milter_default_action = " + action
				if !ok {
					im.noteAt(param+" "+addr+" default_action="+action, "none: on_error is tempfail, continue (accept) or reject; tempfail set")
					onErr = "tempfail"
				}
				switch {
				case own:
					actionFrom = fmt.Sprintf("%s's default_action = %s", param, action)
				case !p.set("milter_default_action"):
					actionFrom += " (Postfix's default)"
				}
				ml = &pfMilter{written: m, addr: addr, onErr: onErr, actionFrom: actionFrom, kind: kind, params: []string{param}, listeners: map[string]bool{}}
				ml.timeout, ml.dataTimeout = im.milterTimeout(times, param, written, settings)
				seen[written] = ml
				list = append(list, ml)
			}
			if slices.Contains(orders[si], ml) {
				continue
			}
			orders[si] = append(orders[si], ml)
			ml.every = ml.every || src.every
			for _, l := range src.listeners {
				ml.listeners[l] = true
			}
			if src.who != "" {
				ml.who = appendOnce(ml.who, src.who)
			}
		}
	}
	if times != nil {
		im.shorterMilterTimeouts(times)
	}
	im.milterOrder(sources, orders, list)
	var all []string // every imported listener, in the config's order
	for _, u := range im.milterUsers {
		all = append(all, u.listeners...)
	}
	var skipNets []string
	var skipFrom string
	if len(list) > 0 {
		skipNets, skipFrom = im.milterMaps()
	}
	for i, ml := range list {
		b := &im.body
		from := strings.Join(ml.params, ", ")
		fmt.Fprintf(b, "\n[[stage]]\n")
		kv(b, fmt.Sprintf("%s (%s)", from, ml.written), "name", tomlStr(fmt.Sprintf("milter%d", i+1)))
		if ml.kind == "unix" || ml.kind == "local" {
			from += " (a relative path, or any under a chrooted smtpd, is under queue_directory)"
		}
		kv(b, from, "milter", tomlStr(ml.addr))
		kv(b, ml.actionFrom, "on_error", tomlStr(ml.onErr))
		kv(b, ml.timeout.from, "timeout", tomlStr(ml.timeout.text))
		kv(b, ml.dataTimeout.from, "data_timeout", tomlStr(ml.dataTimeout.text))
		var ls []string
		for _, l := range all {
			if ml.listeners[l] {
				ls = append(ls, l)
			}
		}
		if !ml.every && len(ls) < len(all) {
			kv(b, "the listeners of the services that run it: "+strings.Join(ml.who, ", "), "listeners", tomlStrs(ls))
		}
		if len(skipNets) > 0 && slices.ContainsFunc(ml.params, func(p string) bool { return p != "non_smtpd_milters" }) {
			kv(b, skipFrom, "skip_networks", tomlStrs(skipNets))
		}
	}
}

// milterOrder writes a comment before the milter stages when the lists
// order the same milters differently: Postfix runs each service's
// milters in its list's order, Sluice runs the stages in one order for
// every listener, which cannot follow both.
func (im *importer) milterOrder(sources []*pfMilterSource, orders [][]*pfMilter, list []*pfMilter) {
	index := map[*pfMilter]int{}
	for i, ml := range list {
		index[ml] = i
	}
	sorted := true
	for _, o := range orders {
		sorted = sorted && slices.IsSortedFunc(o, func(a, b *pfMilter) int { return index[a] - index[b] })
	}
	if sorted {
		return
	}
	var lists []string
	for si, o := range orders {
		if len(o) < 2 {
			continue
		}
		var names []string
		for _, ml := range o {
			names = append(names, fmt.Sprintf("milter%d", index[ml]+1))
		}
		lists = append(lists, fmt.Sprintf("%s (%s)", sources[si].param, strings.Join(names, ", ")))
	}
	fmt.Fprintf(&im.body, "\n# %s\n", tomlComment("Milter order: Postfix runs a service's milters in its list's order, and these lists order the same milters differently: "+
		strings.Join(lists, "; ")+". The stages run in one order for every listener, which cannot follow each of them: main.cf's smtpd_milters, then each service's others in master.cf order, then non_smtpd_milters' others. Check the order the stages below run in."))
}
