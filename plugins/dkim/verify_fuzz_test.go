package dkim

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/sdk"
	"github.com/sluice-mta/sluice/sdk/sdktest"
)

// keyServer answers every TXT query on loopback with key, whatever the
// name: the selector record a hostile signer publishes.
type keyServer struct {
	mu  sync.Mutex
	key string
}

func (k *keyServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	q := req.Question[0]
	k.mu.Lock()
	key := k.key
	k.mu.Unlock()
	if q.Qtype == dns.TypeTXT {
		var parts []string
		for len(key) > 255 {
			parts, key = append(parts, key[:255]), key[255:]
		}
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: append(parts, key)}}
	}
	_ = w.WriteMsg(m)
}

// FuzzVerify verifies hostile messages against hostile key records (RFC
// 6376 §3.5, §3.6.1): the verifier never panics, never refuses, and
// every result it gives is one of RFC 8601 §2.7.1's.
func FuzzVerify(f *testing.F) {
	ks := &keyServer{}
	addr := testlib.ServeDNS(f, ks)
	r, err := dnsresolve.New([]string{addr}, 2*time.Second)
	if err != nil {
		f.Fatal(err)
	}
	p := &Plugin{Resolver: r}
	if err := p.Configure(context.Background(), sdk.Config{JSON: []byte(`{"mode":"verify"}`)}); err != nil {
		f.Fatal(err)
	}
	for name, key := range map[string]string{"rfc6376.eml": rfc6376Key, "rfc8463.eml": rfc8463Ed25519Key} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, key)
	}
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha1; d=x; s=y; h=from:from:from; bh=; b=\r\nFrom: a\r\n\r\n"), "v=DKIM1; k=rsa; p=")
	f.Add([]byte("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed; d=\xff; s=..; l=99999999999999999999; t=-1; x=1; h=from\r\nFrom: a\r\n\r\nbody"), "v=DKIM1; t=s:y; h=sha1; p=AAAA")
	// ARC fields (RFC 8617): instances, cv= and signatures to parse.
	f.Add([]byte("ARC-Seal: i=2; cv=pass; a=rsa-sha256; d=x; s=y; b=AA==\r\nARC-Message-Signature: i=2; a=rsa-sha256; c=simple; d=x; s=y; h=from:arc-seal; bh=; b=\r\n"+
		"ARC-Authentication-Results: i=2; x; none\r\nARC-Seal: i=1; cv=none; a=rsa-sha256; d=x; s=y; b=\r\nARC-Message-Signature: i=1; a=rsa-sha256; d=x; s=y; h=from; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AA==\r\n"+
		"ARC-Authentication-Results: i=+1\r\nFrom: a\r\n\r\n"), "v=DKIM1; h=sha1:sha256; s=*; p=AAAA")
	f.Fuzz(func(t *testing.T, raw []byte, key string) {
		m, err := sdktest.ParseMessage(raw)
		if err != nil {
			return
		}
		ks.mu.Lock()
		ks.key = key
		ks.mu.Unlock()
		v, err := p.Data(context.Background(), &sdk.Txn{}, m)
		if err != nil {
			t.Fatal(err)
		}
		if v.Action != sdk.ActionContinue || v.Reply != nil {
			t.Fatalf("verdict %v %+v: dkim never refuses", v.Action, v.Reply)
		}
		for _, res := range v.AuthResults {
			switch res.Result {
			case ResultPass, ResultFail, ResultNeutral, ResultNone, ResultPolicy, ResultTempError, ResultPermError:
			default:
				t.Fatalf("result %q", res.Result)
			}
		}
	})
}
