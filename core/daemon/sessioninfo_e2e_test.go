package daemon

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gm "github.com/emersion/go-milter"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mta/sluice/core/auth"
	"github.com/sluice-mta/sluice/internal/testlib"
	"github.com/sluice-mta/sluice/internal/tlscipher"
	"github.com/sluice-mta/sluice/sdk"
)

// recorded is a line of the recorder test plugin.
type recorded struct {
	Hook     sdk.Hook     `json:"hook"`
	Session  sdk.Session  `json:"session"`
	Envelope sdk.Envelope `json:"envelope"`
}

// readRecorded reads the lines the recorder plugin wrote to path.
func readRecorded(t *testing.T, path string) []recorded {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r recorded
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// heloMailMacros is a go-milter Milter that keeps, per client HELO name,
// the macros that came with HELO and with MAIL.
type heloMailMacros struct {
	gm.NoOpMilter
	mu   *sync.Mutex
	seen map[string]map[string]string // "HELO-NAME helo" or "HELO-NAME mail" -> macros
	helo string
}

func (m *heloMailMacros) Helo(name string, mod *gm.Modifier) (gm.Response, error) {
	m.helo = name
	m.mu.Lock()
	m.seen[name+" helo"] = maps.Clone(mod.Macros)
	m.mu.Unlock()
	return gm.RespContinue, nil
}

func (m *heloMailMacros) MailFrom(_ string, mod *gm.Modifier) (gm.Response, error) {
	m.mu.Lock()
	m.seen[m.helo+" mail"] = maps.Clone(mod.Macros)
	m.mu.Unlock()
	return gm.RespContinue, nil
}

// Plugins and milters learn the TLS cipher and its key size, and MAIL's
// parameters beyond the DSN ones, over real TLS sessions through the
// daemon: on an implicit-TLS listener from the connect hook on (the
// handshake comes first, as in Postfix's smtps), after STARTTLS from
// the HELO after it; SIZE, BODY and AUTH (the authenticated client's
// submitter as xtext; AUTH=<> for a client that has not authenticated,
// RFC 4954 §5) at mail and rcpt. The milter gets {cipher} (the OpenSSL
// name) and {cipher_bits} at HELO and {auth_author} at MAIL, as Postfix
// sends them.
func TestSessionTLSAndMailParamsReachStages(t *testing.T) {
	rec := testlib.Build(t, "./internal/testplugins/recorder")
	dir := t.TempDir()
	ca := testlib.NewCA(t)
	certFile, keyFile := testlib.WriteKeyPair(t, ca.Issue("mx.sluice.test"))
	hash, err := auth.HashBcrypt("secret", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("alice@sluice.test:"+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	macros := &heloMailMacros{mu: &sync.Mutex{}, seen: map[string]map[string]string{}}
	srv := &gm.Server{NewMilter: func() gm.Milter { return &heloMailMacros{mu: macros.mu, seen: macros.seen} }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	recFile := filepath.Join(dir, "recorded.jsonl")
	d, _ := startFile(t, fmt.Sprintf("hostname = \"mx.sluice.test\"\ndata_dir = %q\nlocal_domains = [\"sluice.test\"]\n", filepath.Join(dir, "data"))+
		fmt.Sprintf("[auth]\nusers_file = %q\n", users)+
		fmt.Sprintf("[[listener]]\nname = \"mx\"\nlisten = \"127.0.0.1:0\"\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile)+
		fmt.Sprintf("[[listener]]\nname = \"smtps\"\nlisten = \"127.0.0.1:0\"\nkind = \"submissions\"\ntls_cert = %q\ntls_key = %q\n", certFile, keyFile)+
		fmt.Sprintf("[[stage]]\nname = \"recorder\"\nplugin = %q\n[stage.config]\nfile = %q\n", rec, recFile)+
		milterStage("macros", "tcp:"+ln.Addr().String(), ""))
	clientTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test"}

	// Implicit TLS, authenticated, AUTH= with a "+" (xtext +2B).
	tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", d.SMTPAddrs()["smtps"].String(), clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(tc)
	defer c.Close()
	if err := c.Hello("implicit.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "alice@sluice.test", "secret")); err != nil {
		t.Fatal(err)
	}
	submitter := "alice+list@sluice.test"
	if err := c.Mail("alice@sluice.test", &smtp.MailOptions{Size: 1234, Auth: &submitter}); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@sluice.test", nil); err != nil {
		t.Fatal(err)
	}
	cs := tc.ConnectionState()
	suite := fmt.Sprintf("tls=true TLSv1.3 %s %d", tls.CipherSuiteName(cs.CipherSuite), tlscipher.Bits(cs.CipherSuite))
	params := `map[AUTH:alice+2Blist@sluice.test BODY:8BITMIME SIZE:1234]`
	checkRecorded(t, recFile, []string{
		"connect " + suite + " map[]",
		"helo " + suite + " map[]",
		"mail " + suite + " " + params,
		"rcpt " + suite + " " + params,
	})
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	wantMacros(t, macros, "implicit.test helo", map[string]string{
		"{tls_version}": "TLSv1.3", "{cipher}": tlscipher.OpenSSLName(tls.CipherSuiteName(cs.CipherSuite)),
		"{cipher_bits}": fmt.Sprint(tlscipher.Bits(cs.CipherSuite)),
	})
	wantMacros(t, macros, "implicit.test mail", map[string]string{"{auth_author}": "alice+2Blist@sluice.test", "{auth_authen}": "alice@sluice.test"})

	// STARTTLS with TLS 1.2, not authenticated: its AUTH= is taken as <>.
	raw, err := net.DialTimeout("tcp", d.SMTPAddrs()["mx"].String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := smtp.NewClientStartTLS(raw, &tls.Config{RootCAs: ca.Pool(), ServerName: "mx.sluice.test", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Hello("starttls.test"); err != nil {
		t.Fatal(err)
	}
	if err := c2.Mail("carol@example.net", &smtp.MailOptions{Auth: &submitter}); err != nil {
		t.Fatal(err)
	}
	if err := c2.Rcpt("bob@sluice.test", nil); err != nil {
		t.Fatal(err)
	}
	cs2, _ := c2.TLSConnectionState()
	suite2 := fmt.Sprintf("tls=true TLSv1.2 %s %d", tls.CipherSuiteName(cs2.CipherSuite), tlscipher.Bits(cs2.CipherSuite))
	params = `map[AUTH:<> BODY:8BITMIME]`
	checkRecorded(t, recFile, []string{
		"connect tls=false 0 map[]",
		"helo tls=false 0 map[]",
		"helo " + suite2 + " map[]",
		"mail " + suite2 + " " + params,
		"rcpt " + suite2 + " " + params,
	})
	if err := c2.Quit(); err != nil {
		t.Fatal(err)
	}
	wantMacros(t, macros, "starttls.test helo", map[string]string{
		"{tls_version}": "TLSv1.2", "{cipher}": tlscipher.OpenSSLName(tls.CipherSuiteName(cs2.CipherSuite)),
		"{cipher_bits}": fmt.Sprint(tlscipher.Bits(cs2.CipherSuite)),
	})
	wantMacros(t, macros, "starttls.test mail", map[string]string{"{auth_author}": ""})
}

// checkRecorded holds the recorder's lines of the session the last
// connect line opened to want: hook, TLS state, MAIL parameters.
func checkRecorded(t *testing.T, path string, want []string) {
	t.Helper()
	all := readRecorded(t, path)
	var id string
	for _, r := range all {
		if r.Hook == sdk.HookConnect {
			id = r.Session.ID
		}
	}
	var got []string
	for _, r := range all {
		if r.Session.ID != id {
			continue
		}
		s := r.Session
		line := fmt.Sprintf("%s tls=%v %s %s %d %v", r.Hook, s.TLS, s.TLSVersion, s.TLSCipher, s.TLSCipherBits, r.Envelope.MailParams)
		got = append(got, strings.Join(strings.Fields(line), " "))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the plugin saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// wantMacros checks the macros the milter kept under key; "" wants a
// macro not sent.
func wantMacros(t *testing.T, m *heloMailMacros, key string, want map[string]string) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	got := m.seen[key]
	for k, v := range want {
		if g, ok := got[k]; g != v || ok != (v != "") {
			t.Errorf("%s: macro %s = %q (sent %v), want %q; all: %q", key, k, g, ok, v, got)
		}
	}
}
