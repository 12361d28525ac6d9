package smtpd

import (
	"strings"
	"testing"
)

// The HELO or EHLO the proxy sends after XCLIENT names the session's
// HELO, over the HELO= XCLIENT gave, as Postfix's helo_cmd and ehlo_cmd
// replace state->helo_name whatever set it: the helo hook, the later
// hooks' SessionInfo (a policy's helo_name, a milter's HELO), Received's
// "from" and the message's log line all have the proxy's greeting. The
// xclient log line still shows what XCLIENT said. Before EHLO and after
// it alike.
func TestXClientGreetingReplacesHELO(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before bool   // XCLIENT before the first EHLO
		greet  string // what the proxy greets with after XCLIENT
	}{
		{"after EHLO, then EHLO", false, "EHLO proxy.test"},
		{"before EHLO, then HELO", true, "HELO proxy.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &testPolicy{}
			h := start(t, withXClient("127.0.0.1/32"), func(o *Options) { o.Policy = p })
			d := h.dialAs("127.0.0.1")
			if !tc.before {
				d.ehlo()
			}
			d.cmd("XCLIENT HELO=client.helo.test ADDR=192.0.2.1", "220 mx.test ESMTP")
			waitLog(t, h, "msg=xclient listener=mx client=192.0.2.1 proxy=127.0.0.1 helo=client.helo.test")
			d.send(tc.greet)
			for l := d.line(); !strings.HasPrefix(l, "250 "); l = d.line() {
				if !strings.HasPrefix(l, "250-") {
					t.Fatalf("%s: %q", tc.greet, l)
				}
			}
			body := d.sendTo(h, "a@example.org", "b@example.org")
			if want := "\r\nReceived: from proxy.test ([192.0.2.1])\r\n"; !strings.Contains(body, want) {
				t.Errorf("message starts %q, want %q", body[:min(len(body), 140)], want)
			}
			calls := strings.Join(p.log(), "|")
			if !strings.Contains(calls, "|helo proxy.test|") || strings.Contains(calls, "client.helo.test") {
				t.Errorf("hooks saw %q, want the helo hook asked of proxy.test alone", calls)
			}
			p.mu.Lock()
			info := p.lastInfo
			p.mu.Unlock()
			if info.Helo != "proxy.test" {
				t.Errorf("SessionInfo.Helo at DATA %q, want proxy.test", info.Helo)
			}
			waitLog(t, h, "msg=message id=")
			waitLog(t, h, "client=192.0.2.1 proxy=127.0.0.1 helo=proxy.test tls=false")
		})
	}
}
