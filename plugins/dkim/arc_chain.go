package dkim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mta/sluice/sdk"
)

// The ARC header fields (RFC 8617 §4.1).
const (
	fieldAAR = "ARC-Authentication-Results"
	fieldAMS = "ARC-Message-Signature"
	fieldAS  = "ARC-Seal"
)

// maxARCSets is the most ARC Sets a message may carry (RFC 8617 §4.2.1):
// a chain of more fails, and a sealer adds none past it.
const maxARCSets = 50

// The chain validation statuses, cv= (RFC 8617 §4.1.3), and the arc
// results of Authentication-Results (§10.1).
const (
	cvNone = "none"
	cvPass = "pass"
	cvFail = "fail"
)

// arcSet is one ARC Set: the three fields of one instance.
type arcSet struct {
	aar, ams, as *sdk.Header
	amsTags      tagList
	asTags       tagList
}

// arcChain is the ARC Sets of a message, sets[0] being instance 1.
type arcChain struct {
	sets []arcSet
}

// instanceOf reads a field's i= (RFC 8617 §4.2.1). The AAR's comes first,
// before the authserv-id, where its value's tag list ends at the first
// ';' (§4.1.1); the AMS and AS are tag lists (§4.1.2, §4.1.3).
func instanceOf(h sdk.Header) (int, tagList, error) {
	var v string
	var tags tagList
	if strings.EqualFold(h.Name, fieldAAR) {
		first, _, _ := strings.Cut(h.Value, ";")
		k, val, ok := strings.Cut(first, "=")
		if !ok || strings.TrimSpace(relaxedValue(k)) != "i" {
			return 0, nil, fmt.Errorf("%s without i= first", fieldAAR)
		}
		v = strings.TrimSpace(relaxedValue(val))
	} else {
		tags = parseTags(h.Value)
		v = tags.get("i")
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxARCSets || v[0] == '+' {
		return 0, nil, fmt.Errorf("%s with i=%q: want 1 to %d", h.Name, v, maxARCSets)
	}
	return n, tags, nil
}

// collectARC gathers the ARC Sets of m (RFC 8617 §5.2 step 1) and checks
// the chain's structure (step 3, §4.2): each instance 1..N has exactly
// one of each field. present is false when m has no ARC field at all.
// topFail reports whether the AS of the highest instance says cv=fail
// (step 2), found before the structure is judged.
func collectARC(m *sdk.Message) (c arcChain, present, topFail bool, err error) {
	byI := map[int]*arcSet{}
	top := 0
	var firstErr error
	for i := range m.Headers {
		h := &m.Headers[i]
		var slot func(s *arcSet) **sdk.Header
		switch {
		case strings.EqualFold(h.Name, fieldAAR):
			slot = func(s *arcSet) **sdk.Header { return &s.aar }
		case strings.EqualFold(h.Name, fieldAMS):
			slot = func(s *arcSet) **sdk.Header { return &s.ams }
		case strings.EqualFold(h.Name, fieldAS):
			slot = func(s *arcSet) **sdk.Header { return &s.as }
		default:
			continue
		}
		present = true
		n, tags, ierr := instanceOf(*h)
		if ierr != nil {
			if firstErr == nil {
				firstErr = ierr
			}
			continue
		}
		s := byI[n]
		if s == nil {
			s = &arcSet{}
			byI[n] = s
		}
		p := slot(s)
		if *p != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("two %s fields of i=%d", h.Name, n)
			}
			continue
		}
		*p = h
		switch {
		case strings.EqualFold(h.Name, fieldAMS):
			s.amsTags = tags
		case strings.EqualFold(h.Name, fieldAS):
			s.asTags = tags
		}
		top = max(top, n)
	}
	if !present {
		return arcChain{}, false, false, nil
	}
	if s := byI[top]; s != nil && s.as != nil && strings.EqualFold(s.asTags.get("cv"), cvFail) {
		return arcChain{}, true, true, fmt.Errorf("the ARC-Seal of i=%d says cv=fail", top)
	}
	if firstErr != nil {
		return arcChain{}, true, false, firstErr
	}
	c.sets = make([]arcSet, top)
	for i := 1; i <= top; i++ {
		s := byI[i]
		switch {
		case s == nil:
			return arcChain{}, true, false, fmt.Errorf("no ARC Set of i=%d below i=%d", i, top)
		case s.aar == nil || s.ams == nil || s.as == nil:
			return arcChain{}, true, false, fmt.Errorf("the ARC Set of i=%d lacks a field", i)
		}
		// RFC 8617 §5.2 step 3: cv=none for i=1, pass for the others.
		want := cvPass
		if i == 1 {
			want = cvNone
		}
		if cv := strings.ToLower(s.asTags.get("cv")); cv != want {
			return arcChain{}, true, false, fmt.Errorf("the ARC-Seal of i=%d says cv=%s, want %s", i, cv, want)
		}
		c.sets[i-1] = *s
	}
	return c, true, false, nil
}
