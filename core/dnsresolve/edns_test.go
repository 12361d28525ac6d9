package dnsresolve

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A nameserver that does not know EDNS0 (RFC 6891 §7: it answers a query
// with an OPT record FORMERR, often without the question) is asked again
// without it, as the C library's stub resolver does (glibc's res_nquery
// after RES_F_EDNS0ERR). Every lookup through such a server failed, and
// all mail to MX destinations waited until max_age.
func TestFORMERRToEDNSRetriedWithoutIt(t *testing.T) {
	var edns, plain atomic.Int32
	s := startRawServer(t, func(q *dns.Msg) [][]byte {
		if q.IsEdns0() != nil {
			edns.Add(1)
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeFormatError)
			m.Question = nil
			b, err := m.Pack()
			if err != nil {
				t.Error(err)
			}
			return [][]byte{b}
		}
		plain.Add(1)
		return [][]byte{reply(t, q, dns.RcodeSuccess, "example.org. MX 10 mx.example.org.")}
	})
	r, err := New([]string{s.Addr}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	mxs, err := r.LookupMX(ctx, "example.org")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "mx.example.org" {
		t.Fatalf("LookupMX = %v, %v; want the answer to the query without EDNS0", mxs, err)
	}
	if edns.Load() != 1 || plain.Load() != 1 {
		t.Errorf("%d queries with EDNS0, %d without; want one each", edns.Load(), plain.Load())
	}
}
