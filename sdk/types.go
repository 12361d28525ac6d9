// Package sdk is what a Sluice plugin author imports. A plugin is a program
// whose main is one call:
//
//	func main() { sdk.Serve(&MyPlugin{}) }
//
// MyPlugin embeds sdk.Base and implements only the hook interfaces it
// wants (ConnectHook, HeloHook, AuthHook, MailHook, RcptHook, DataHook,
// DeliverHook, BounceHook, DisconnectHook, OutcomeHook). The SDK declares exactly those hooks to the
// core, so hooks a plugin does not implement cost nothing.
//
// This package imports nothing from Sluice's core.
package sdk

// ProtocolVersion is the plugin protocol version this SDK speaks.
const ProtocolVersion = 1

// Hook names a point in the SMTP transaction (or after it) where the
// pipeline calls its stages.
type Hook string

// The hooks, in SMTP order, then deliver, bounce, disconnect and outcome.
const (
	HookConnect Hook = "connect"
	HookHelo    Hook = "helo"
	HookAuth    Hook = "auth"
	HookMail    Hook = "mail"
	HookRcpt    Hook = "rcpt"
	HookData    Hook = "data"
	HookDeliver Hook = "deliver"
	HookBounce  Hook = "bounce"
	// HookDisconnect is the end of an SMTP session (DisconnectHook).
	HookDisconnect Hook = "disconnect"
	// HookOutcome is what became of a queued message's recipients
	// (OutcomeHook).
	HookOutcome Hook = "outcome"
)

// AllHooks lists every hook in order.
var AllHooks = []Hook{HookConnect, HookHelo, HookAuth, HookMail, HookRcpt, HookData, HookDeliver, HookBounce, HookDisconnect, HookOutcome}

// Session describes the SMTP connection.
type Session struct {
	ID         string `json:"id"`
	ClientIP   string `json:"client_ip"`
	ClientPort int    `json:"client_port,omitempty"`
	// ClientName is the client's verified host name (a PTR name whose
	// addresses hold ClientIP; "localhost" for 127.0.0.1 and ::1), ""
	// when it has none.
	ClientName string `json:"client_name,omitempty"`
	Helo       string `json:"helo,omitempty"`
	// TLS says the connection is encrypted, TLSVersion by which protocol
	// ("TLSv1.3", as OpenSSL and Postfix name it), TLSCipher with which
	// cipher suite by its IANA name ("TLS_AES_128_GCM_SHA256",
	// "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": Go's tls.CipherSuiteName,
	// the Received field's tls clause of RFC 8314 §4.3; Postfix logs the
	// OpenSSL name, the same for TLS 1.3 suites), and TLSCipherBits the
	// key size of its cipher in bits (128, 256; Postfix's {cipher_bits}).
	// Known from connect on an implicit-TLS listener, from the HELO after
	// STARTTLS; "" and 0 without TLS, and TLSCipher and TLSCipherBits
	// from a core older than them.
	TLS           bool   `json:"tls,omitempty"`
	TLSVersion    string `json:"tls_version,omitempty"`
	TLSCipher     string `json:"tls_cipher,omitempty"`
	TLSCipherBits int    `json:"tls_cipher_bits,omitempty"`
	AuthUser      string `json:"auth_user,omitempty"`
	AuthMech      string `json:"auth_mech,omitempty"`
	Listener      string `json:"listener,omitempty"`
	LocalIP       string `json:"local_ip,omitempty"`
	LocalPort     int    `json:"local_port,omitempty"`
	// RelayClient: the client's address is in the core's relay_networks
	// (the site's own hosts, Postfix's mynetworks): it may relay without
	// AUTH, and policy checks meant for strangers usually skip it.
	RelayClient bool `json:"relay_client,omitempty"`
	// Transaction says which of the session's transactions a mail, rcpt
	// or data hook belongs to: it counts the MAIL commands the core took
	// up, 1 from the first on. A plugin is told nothing of RSET, and is
	// not asked at a MAIL a stage before it accepted: a new number is how
	// it knows the last transaction ended, so that what it kept of that
	// one goes no further. 0 at connect, at a HELO before the first MAIL
	// (a later one has the number of the transaction it ended), at
	// deliver and bounce, and from a core older than the field. XCLIENT
	// starts the session again under the same ID, and the count goes
	// on: its connect and HELO carry the last transaction's number.
	Transaction int `json:"transaction,omitempty"`
	// Notes are the session notes: what stages set with SetNote at
	// connect, helo and auth, seen by every later hook of the session
	// (every transaction's). At deliver and bounce, those of the session
	// the message came in, as they stood when it was queued. Nil when
	// there are none. Read it, never write to it: it may be shared.
	Notes map[string]string `json:"notes,omitempty"`
}

// Recipient is one envelope recipient.
type Recipient struct {
	Addr   string            `json:"addr"`
	Route  string            `json:"route,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	// RouteSetByOther, only on the deliver hook's rcpt: Route was set by
	// another stage (at reception, or earlier at deliver), so the core
	// ignores this stage's SetRoute for it. That route is the other
	// stage's decision about the message (a quarantine relay, say): a
	// stage that decides by the address alone, as a route rule does,
	// should answer Continue and leave the recipient to it. False for a
	// route this stage set or no stage did, and from an older core.
	RouteSetByOther bool `json:"route_set_by_other,omitempty"`
}

// Envelope is the transaction as the stages before this one left it.
type Envelope struct {
	MailFrom string `json:"mail_from"`
	// MailParams are the MAIL command's ESMTP parameters, at the mail,
	// rcpt and data hooks: each keyword, upper case, to its value in the
	// command's form, "" for a keyword without one. RET (FULL or HDRS)
	// and ENVID (xtext) of RFC 3461 §4.3 and §4.4; SIZE, the size the
	// client announced in digits (RFC 1870; left out when 0); BODY, one
	// of 7BIT, 8BITMIME and BINARYMIME; SMTPUTF8 and REQUIRETLS, without
	// a value (RFC 6531, RFC 8689); and AUTH, the submitter the client
	// vouches for as xtext (RFC 4954 §5: "e+3Dmc2@example.com"), "<>"
	// when it gave <> or has not authenticated (§5: the core does not
	// take an unauthenticated client's word, nor should a stage). A
	// stage's SetSender may replace them. None at deliver and bounce.
	MailParams map[string]string `json:"mail_params,omitempty"`
	Rcpts      []Recipient       `json:"rcpts,omitempty"`
	QueueID    string            `json:"queue_id,omitempty"`
}

// Txn is what every hook receives: the session, the envelope so far, and
// the authentication results of earlier stages.
type Txn struct {
	Session     Session
	Envelope    Envelope
	AuthResults []AuthResult
	// Notes are the transaction notes: what stages set with SetNote at
	// mail, rcpt and data of this transaction, gone when it ends (RSET,
	// the next MAIL, after DATA). At deliver and bounce, the queued
	// message's. Nil when there are none. Read it, never write to it.
	Notes map[string]string
}

// AuthResult is one authentication method's outcome (RFC 8601), passed in
// structured form to later stages.
type AuthResult struct {
	Method string            `json:"method"` // spf, dkim, dmarc, ...
	Result string            `json:"result"` // pass, fail, none, ...
	Reason string            `json:"reason,omitempty"`
	Props  map[string]string `json:"props,omitempty"` // smtp.mailfrom, header.d, ...
	Stage  string            `json:"stage,omitempty"`
}

// Header is one header field. Value is what follows the colon, leading
// whitespace removed, folding (CRLF + whitespace) kept. Protocol strings
// are UTF-8: bytes of a received field that are not (a Latin-1 Subject
// from an old mailer) reach a plugin as U+FFFD in Name and Value, and as
// they are in Raw. The same holds for every string of a call (the HELO
// name, ESMTP parameters).
//
// Raw is the field exactly as received: name, colon and value with their
// original whitespace and folding, without the line break that ends the
// field; it is what simple header canonicalization hashes (RFC 6376
// §3.4.1). The core sets it only on fields that no stage has edited: a
// field a stage added, inserted or changed has no Raw, and neither has
// any field from a core that predates it. Raw is only the field's
// spelling (Name and Value say the same thing), and it may share memory
// with the core's copy of the message: read it, never write to it.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Raw   []byte `json:"raw,omitempty"`
}

// Message is the message at the data hook: its header fields in order and
// its body (CRLF line ends). Body is nil when the plugin declared it does
// not need the body (see BodyOptional).
type Message struct {
	Headers []Header
	Body    []byte
	// BodySize is the body's size even when Body is not sent.
	BodySize int64
}

// Get returns the value of the first header field named name
// (case-insensitive), or "".
func (m *Message) Get(name string) string {
	for _, h := range m.Headers {
		if equalFold(h.Name, name) {
			return h.Value
		}
	}
	return ""
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
