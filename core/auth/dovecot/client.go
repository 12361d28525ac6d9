// Package dovecot is a client of Dovecot's authentication protocol (the
// auth-client socket Postfix uses with smtpd_sasl_type = dovecot), so that
// SMTP AUTH can check passwords against a Dovecot's passdb.
package dovecot

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultTimeout bounds one exchange: connecting, the handshake and the
// answer. Dovecot delays a failure by its auth_failure_delay (2 s) and,
// for an address that keeps failing, by its auth penalty (up to 15 s), so
// it is well above both.
const DefaultTimeout = 30 * time.Second

// maxLine is Dovecot's AUTH_CLIENT_MAX_LINE_LENGTH.
const maxLine = 16384

// Client asks one Dovecot auth service. It opens a connection for each
// authentication, so a restarted Dovecot needs nothing on our side, and
// is safe for concurrent use.
type Client struct {
	spec, network, addr string
	// Timeout bounds each exchange; 0: DefaultTimeout.
	Timeout time.Duration

	ids atomic.Uint32

	mu    sync.Mutex
	mechs []string // from the last handshake; nil before one

	probing atomic.Bool // a Probe is under way
	// failedAt is when the last Probe failed (UnixNano), 0 after one that
	// did not: Probe waits ProbeHoldOff after a failure.
	failedAt atomic.Int64
	// Now is time.Now unless a test sets it.
	Now func() time.Time
}

// ProbeHoldOff is how long Probe waits after a failed probe before it
// asks Dovecot again: while Dovecot is down, the EHLOs that start a probe
// would otherwise each dial it and log that it is down.
const ProbeHoldOff = 10 * time.Second

// New returns a Client of the socket spec (see ParseAddr).
func New(spec string) (*Client, error) {
	network, addr, err := ParseAddr(spec)
	if err != nil {
		return nil, err
	}
	return &Client{spec: spec, network: network, addr: addr}, nil
}

// Spec is the socket as configured.
func (c *Client) Spec() string { return c.spec }

// Request is one authentication.
type Request struct {
	Mech     string // PLAIN or LOGIN
	User     string
	Password string
	Service  string // "smtp" when empty, as Postfix's smtpd_sasl_service
	// Local and Remote are the SMTP connection's ends (lip/lport,
	// rip/rport), which Dovecot logs and applies its per-address penalty
	// and allow_nets to.
	Local, Remote netip.AddrPort
	// Secured: the SMTP session is under TLS, so Dovecot's
	// disable_plaintext_auth lets a plaintext mechanism through.
	Secured bool
}

// Refused is Dovecot's FAIL answer. Temp is set when Dovecot flagged the
// failure as temporary (its passdb is down), not a wrong password.
type Refused struct {
	Reason string // Dovecot's reason=, if any
	Temp   bool
}

func (r *Refused) Error() string {
	s := "dovecot refused the credentials"
	if r.Temp {
		s = "dovecot failed temporarily"
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}

// Probe learns Dovecot's mechanisms in the background, as Postfix's smtpd
// asks Dovecot at start-up, so that no SMTP command waits on Dovecot to
// know what EHLO offers: a Dovecot that is down or never answers would
// otherwise stall every EHLO. At most one probe runs at a time; it ends
// with ctx or after Timeout, and failed, if not nil, gets its error.
// After a failed probe, none is made for ProbeHoldOff.
func (c *Client) Probe(ctx context.Context, failed func(error)) {
	if at := c.failedAt.Load(); at != 0 && c.now().Sub(time.Unix(0, at)) < ProbeHoldOff {
		return
	}
	if !c.probing.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.probing.Store(false)
		conn, _, err := c.open(ctx)
		if err != nil {
			c.failedAt.Store(c.now().UnixNano())
			if failed != nil {
				failed(err)
			}
			return
		}
		c.failedAt.Store(0)
		conn.Close()
	}()
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Cached returns the mechanisms of the last handshake, nil before one.
func (c *Client) Cached() []string { return c.cached() }

func (c *Client) cached() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mechs
}

// Authenticate checks req's credentials and returns the user name Dovecot
// authenticated (its user=, which may differ from req.User: a passdb may
// rewrite it). Dovecot's FAIL is a *Refused; any other error (Dovecot not
// listening, a timeout, a protocol error) means it could not be asked.
func (c *Client) Authenticate(ctx context.Context, req Request) (string, error) {
	conn, r, err := c.open(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if !slices.Contains(c.cached(), req.Mech) {
		return "", fmt.Errorf("dovecot at %s does not offer %s", c.spec, req.Mech)
	}
	var first []byte
	switch req.Mech {
	case "PLAIN": // RFC 4616 §2: authzid NUL authcid NUL passwd
		first = []byte("\x00" + req.User + "\x00" + req.Password)
	case "LOGIN": // the initial response is the user name
		first = []byte(req.User)
	default:
		return "", fmt.Errorf("dovecot: mechanism %s not supported here", req.Mech)
	}
	id := strconv.FormatUint(uint64(c.ids.Add(1)), 10)
	service := req.Service
	if service == "" {
		service = "smtp"
	}
	// The fields Postfix's xsasl_dovecot_server.c sends: nologin, as no
	// Dovecot login follows; secured under TLS.
	cmd := "AUTH\t" + id + "\t" + req.Mech + "\tservice=" + service + "\tnologin"
	if req.Local.IsValid() {
		cmd += "\tlip=" + req.Local.Addr().Unmap().String() + "\tlport=" + strconv.Itoa(int(req.Local.Port()))
	}
	if req.Remote.IsValid() {
		cmd += "\trip=" + req.Remote.Addr().Unmap().String() + "\trport=" + strconv.Itoa(int(req.Remote.Port()))
	}
	if req.Secured {
		cmd += "\tsecured"
	}
	cmd += "\tresp=" + base64.StdEncoding.EncodeToString(first) + "\n"
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return "", fmt.Errorf("dovecot at %s: %w", c.spec, err)
	}
	sentPassword := req.Mech == "PLAIN"
	for {
		f, err := readLine(r)
		if err != nil {
			return "", fmt.Errorf("dovecot at %s: reading the answer: %w", c.spec, err)
		}
		if len(f) < 2 || f[1] != id {
			return "", fmt.Errorf("dovecot at %s: unexpected answer %q", c.spec, printable(f))
		}
		params := f[2:]
		switch f[0] {
		case "OK":
			user, ok := param(params, "user")
			if !ok || user == "" {
				return "", fmt.Errorf("dovecot at %s: OK without user=", c.spec)
			}
			return user, nil
		case "FAIL":
			reason, _ := param(params, "reason")
			code, _ := param(params, "code")
			return "", &Refused{Reason: reason, Temp: slices.Contains(params, "temp") || code == "temp_fail"}
		case "CONT":
			// LOGIN's "Password:" challenge; PLAIN asks for nothing more.
			if sentPassword {
				return "", fmt.Errorf("dovecot at %s: unexpected CONT", c.spec)
			}
			sentPassword = true
			line := "CONT\t" + id + "\t" + base64.StdEncoding.EncodeToString([]byte(req.Password)) + "\n"
			if _, err := conn.Write([]byte(line)); err != nil {
				return "", fmt.Errorf("dovecot at %s: %w", c.spec, err)
			}
		default:
			return "", fmt.Errorf("dovecot at %s: unexpected answer %q", c.spec, printable(f))
		}
	}
}

// open connects and does the handshake: both sides send VERSION (major 1),
// we our CPID, Dovecot its MECH lines, SPID, CUID and COOKIE up to DONE.
// The connection's deadline covers the whole exchange.
func (c *Client) open(ctx context.Context) (net.Conn, *bufio.Reader, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	var d net.Dialer
	raw, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("dovecot at %s: %w", c.spec, err)
	}
	dl, _ := ctx.Deadline()
	raw.SetDeadline(dl)
	// A cancelled ctx (shutdown) ends a wait in Read or Write at once.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	var conn net.Conn = &closer{Conn: raw, done: func() { stop(); cancel() }}
	fail := func(err error) (net.Conn, *bufio.Reader, error) {
		conn.Close()
		return nil, nil, fmt.Errorf("dovecot at %s: handshake: %w", c.spec, err)
	}
	// Dovecot accepts the client's handshake before its own has arrived.
	if _, err := fmt.Fprintf(conn, "VERSION\t1\t2\nCPID\t%d\n", os.Getpid()); err != nil {
		return fail(err)
	}
	r := bufio.NewReaderSize(conn, maxLine+1)
	var mechs []string
	for sawVersion := false; ; {
		f, err := readLine(r)
		if err != nil {
			return fail(err)
		}
		switch {
		case f[0] == "VERSION":
			if len(f) < 2 || f[1] != "1" {
				return fail(fmt.Errorf("protocol version %q, want 1.x", printable(f[1:])))
			}
			sawVersion = true
		case !sawVersion:
			return fail(fmt.Errorf("%q before VERSION", printable(f)))
		case f[0] == "MECH" && len(f) >= 2:
			mechs = append(mechs, strings.ToUpper(f[1]))
		case f[0] == "DONE":
			c.mu.Lock()
			c.mechs = mechs
			if c.mechs == nil {
				c.mechs = []string{}
			}
			c.mu.Unlock()
			return conn, r, nil
		}
		// SPID, CUID, COOKIE and anything newer are not ours to use.
	}
}

// closer ends the context watch with the connection.
type closer struct {
	net.Conn
	once sync.Once
	done func()
}

func (c *closer) Close() error {
	c.once.Do(c.done)
	return c.Conn.Close()
}

var errLong = errors.New("line longer than 16384 bytes")

// readLine reads one LF-ended line, split at TABs.
func readLine(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errLong
	}
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(line[:len(line)-1]), "\r"), "\t"), nil
}

// param returns the optional parameter name=value of params, unescaped.
func param(params []string, name string) (string, bool) {
	for _, p := range params {
		if v, ok := strings.CutPrefix(p, name+"="); ok {
			return unescape(v), true
		}
	}
	return "", false
}

// printable is a line for an error message: tabs as spaces, control
// characters as '?', at most 200 bytes.
func printable(f []string) string {
	s := strings.Join(f, " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
