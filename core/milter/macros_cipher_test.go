package milter

import (
	"context"
	"maps"
	"net"
	"sync"
	"testing"

	gm "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/sdk"
)

// stageMacros is a go-milter Milter that keeps the macros each step came
// with (go-milter gives a step the SMFIC_MACRO sent just before it).
type stageMacros struct {
	gm.NoOpMilter
	mu   *sync.Mutex
	seen map[string]map[string]string
}

func (m *stageMacros) keep(step string, mod *gm.Modifier) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seen[step] = maps.Clone(mod.Macros)
}

func (m *stageMacros) Helo(_ string, mod *gm.Modifier) (gm.Response, error) {
	m.keep("helo", mod)
	return gm.RespContinue, nil
}

func (m *stageMacros) MailFrom(_ string, mod *gm.Modifier) (gm.Response, error) {
	m.keep("mail", mod)
	return gm.RespContinue, nil
}

// The TLS cipher reaches a milter at HELO, named and sized as Postfix's
// milter_helo_macros give it ({cipher} by its OpenSSL name), and the
// AUTH= submitter at MAIL ({auth_author}, milter_mail_macros), as the
// client wrote it; AUTH=<> (an unauthenticated client's, as the core
// passes it) gives none.
func TestCipherAndAuthorMacros(t *testing.T) {
	for _, tc := range []struct {
		name, auth, author string
	}{
		{"submitter", "e+3Dmc2@example.com", "e+3Dmc2@example.com"},
		{"none", "<>", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			rec := &stageMacros{mu: &sync.Mutex{}, seen: map[string]map[string]string{}}
			srv := &gm.Server{NewMilter: func() gm.Milter { return rec }}
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })

			s := testSession()
			s.TLSVersion, s.TLSCipher, s.TLSCipherBits = "TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", 256
			st := newStage(t, "tcp:"+ln.Addr().String())
			c, err := st.Open(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = c.Close() })
			txn := &sdk.Txn{Session: *s, Envelope: sdk.Envelope{MailFrom: "alice@example.org",
				MailParams: map[string]string{"AUTH": tc.auth, "SIZE": "1234"}}}
			for _, h := range []sdk.Hook{sdk.HookConnect, sdk.HookHelo, sdk.HookMail} {
				if v, err := step(c, h, txn, nil); err != nil || v.Action != sdk.ActionContinue {
					t.Fatalf("%s: %+v %v", h, v, err)
				}
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			helo, mail := rec.seen["helo"], rec.seen["mail"]
			for k, v := range map[string]string{"{tls_version}": "TLSv1.2", "{cipher}": "ECDHE-RSA-AES256-GCM-SHA384", "{cipher_bits}": "256"} {
				if helo[k] != v {
					t.Errorf("HELO macro %s = %q, want %q (all: %q)", k, helo[k], v, helo)
				}
			}
			if got, ok := mail["{auth_author}"]; got != tc.author || ok != (tc.author != "") {
				t.Errorf("MAIL macro {auth_author} = %q (sent %v), want %q (all: %q)", got, ok, tc.author, mail)
			}
			if mail["{auth_authen}"] != "alice" {
				t.Errorf("MAIL macros %q lack {auth_authen}", mail)
			}
		})
	}
}

// Without TLS no cipher macro is sent, as Postfix leaves them undefined.
func TestNoCipherMacrosInTheClear(t *testing.T) {
	s := testSession()
	s.TLS, s.TLSVersion = false, ""
	for i, kv := 0, heloMacros(s); i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			t.Errorf("macro %s = %q in the clear", kv[i], kv[i+1])
		}
	}
}
