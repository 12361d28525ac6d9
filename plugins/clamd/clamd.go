// Package clamd is a first-party plugin that has ClamAV's clamd scan each
// message at the data hook, as Haraka's clamd plugin and Postfix's
// clamav-milter do: the whole message, header and body, goes to clamd
// over its INSTREAM command (clamd decodes MIME itself), and a message in
// which clamd finds a virus is refused, quarantined or tagged.
//
//	[[stage]]
//	name         = "clamav"
//	plugin       = "clamd"
//	data_timeout = "60s"            # longer than the scan's timeout
//	[stage.config]
//	socket  = "unix:/var/run/clamav/clamd.ctl"  # or sockets = [...], tried in turn
//	timeout = "30s"
//	action  = "reject"
//
// With sockets, several clamd are tried in turn, the next when one
// cannot be connected to (internal/failover). When no clamd can be reached,
// the one connected to does not answer within timeout or it answers an
// error, Data returns an error and the stage's on_error
// applies (tempfail by default): no message passes unscanned unless the
// operator chose on_error = "continue".
package clamd

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/internal/failover"
	"github.com/sluice-mta/sluice/sdk"
)

// Config is the stage's [stage.config].
type Config struct {
	// Socket is clamd's socket: "unix:PATH" (Debian's clamd.conf has
	// LocalSocket /var/run/clamav/clamd.ctl, the default), a bare /PATH,
	// "inet:HOST:PORT", "tcp:HOST:PORT" or a bare "HOST:PORT" as Haraka's
	// clamd_socket (clamd.conf's TCPSocket, 3310 by convention).
	Socket string `json:"socket"`
	// Sockets are several clamd, in any of socket's forms, tried in turn
	// as Haraka's clamd_socket list: a socket that cannot be connected to
	// (refused, missing, or no connection within 5s) moves the scan to
	// the next, and goes to the back of the order for 30s. Only when none
	// can be connected to does the stage fail. Not with socket.
	Sockets []string `json:"sockets"`
	// Timeout bounds one scan: connecting, streaming the message and
	// waiting for clamd's answer, a Go duration (default "30s"). The
	// stage's data_timeout must be longer, or the core gives up first.
	Timeout string `json:"timeout"`
	// Action on a virus: reject (550 5.7.1, the default), quarantine, or
	// tag (an X-Virus-Found field, and the message goes on).
	Action string `json:"action"`
	// MaxSize skips the scan of a message of more bytes (default 25 MiB,
	// clamd's own StreamMaxLength), which goes on with an X-Virus-Status
	// field saying so; a message clamd refuses as over its limit is
	// treated alike.
	MaxSize int64 `json:"max_size"`
	// SkipAuthenticated leaves the mail of clients that authenticated
	// unscanned (default false: viruses come from inside too).
	SkipAuthenticated bool `json:"skip_authenticated"`
	// AddHeader adds X-Virus-Scanned: ClamAV on HOST to every scanned
	// message, and X-Virus-Status to one left unscanned for its size
	// (default true).
	AddHeader *bool `json:"add_header"`
}

// The defaults.
const (
	DefaultSocket  = "unix:/var/run/clamav/clamd.ctl"
	DefaultTimeout = 30 * time.Second
	DefaultMaxSize = 25 << 20
)

// EnvHostname is where the core hands plugins its configured hostname,
// which X-Virus-Scanned names as the scanning host.
const EnvHostname = "SLUICE_HOSTNAME"

// The actions on a virus.
const (
	actReject     = "reject"
	actQuarantine = "quarantine"
	actTag        = "tag"
)

// Plugin scans messages with clamd.
type Plugin struct {
	sdk.Base
	cfg       Config
	socks     *failover.List
	timeout   time.Duration
	addHeader bool
	host      string
}

// Configure decodes and checks the config; its errors name the key.
func (p *Plugin) Configure(_ context.Context, c sdk.Config) error {
	if err := c.Decode(&p.cfg); err != nil {
		return err
	}
	cfg := &p.cfg
	socks, err := cfg.sockets()
	if err != nil {
		return err
	}
	p.socks = failover.New("clamd", "socket", socks)
	p.timeout = DefaultTimeout
	if cfg.Timeout != "" {
		d, err := time.ParseDuration(cfg.Timeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("clamd: timeout = %q: want a duration such as 30s", cfg.Timeout)
		}
		p.timeout = d
	}
	switch cfg.Action {
	case "":
		cfg.Action = actReject
	case actReject, actQuarantine, actTag:
	default:
		return fmt.Errorf("clamd: action %q: want reject, quarantine or tag", cfg.Action)
	}
	switch {
	case cfg.MaxSize == 0:
		cfg.MaxSize = DefaultMaxSize
	case cfg.MaxSize < 0:
		return fmt.Errorf("clamd: max_size = %d: want a number of bytes above 0", cfg.MaxSize)
	}
	p.addHeader = cfg.AddHeader == nil || *cfg.AddHeader
	p.host = os.Getenv(EnvHostname)
	if p.host == "" {
		p.host, _ = os.Hostname()
	}
	return nil
}

// Data streams the message to clamd and acts on its answer.
func (p *Plugin) Data(ctx context.Context, t *sdk.Txn, m *sdk.Message) (sdk.Verdict, error) {
	if p.cfg.SkipAuthenticated && t.Session.AuthUser != "" {
		// A forged X-Virus-Status: Clean goes even unscanned: the fields
		// are this stage's word, whatever the client.
		return sdk.Continue(dropOurs(m)...).Because("not scanned: authenticated client"), nil
	}
	header := headerBytes(m.Headers)
	size := int64(len(header)) + int64(len(m.Body))
	if size > p.cfg.MaxSize {
		return p.unscanned(m, fmt.Sprintf("%d bytes, over max_size %d", size, p.cfg.MaxSize)), nil
	}
	r, err := p.scan(ctx, header, m.Body)
	if err != nil {
		return sdk.Verdict{}, err
	}
	switch {
	case r.sizeLimit:
		return p.unscanned(m, fmt.Sprintf("%d bytes, over clamd's StreamMaxLength", size)), nil
	case r.virus != "":
		return p.infected(m, r.virus), nil
	}
	return sdk.Continue(p.stamp(m, "")...).Because("clean"), nil
}

// scan runs one INSTREAM session, with the first socket that can be
// connected to, within the scan's timeout.
func (p *Plugin) scan(ctx context.Context, header, body []byte) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	conn, s, err := p.socks.Dial(ctx, nil)
	if err != nil {
		return result{}, err
	}
	defer conn.Close()
	r, err := instream(ctx, conn, header, body)
	if err != nil {
		return result{}, fmt.Errorf("clamd %s: %w", s.Spec, err)
	}
	return r, nil
}

// infected is the configured action's verdict for a message holding virus.
func (p *Plugin) infected(m *sdk.Message, virus string) sdk.Verdict {
	name := printable(virus)
	reason := "virus found: " + name
	switch p.cfg.Action {
	case actQuarantine:
		v := sdk.Quarantine(reason)
		v.Edits = p.stamp(m, name)
		return v
	case actTag:
		return sdk.Continue(p.stamp(m, name)...).Because(reason)
	}
	// RFC 3463 §3.8: X.7.1, delivery not authorized, message refused;
	// 550 as clamav-milter and Haraka's clamd send it.
	return sdk.Reject(550, "5.7.1", "message contains a virus: "+name).Because(reason)
}

// unscanned lets a message too large to scan go on, saying so.
func (p *Plugin) unscanned(m *sdk.Message, why string) sdk.Verdict {
	v := sdk.Continue(dropOurs(m)...).Because("not scanned: " + why)
	if p.addHeader {
		v.Edits = append(v.Edits, sdk.AddHeader{Name: "X-Virus-Status", Value: "Unscanned (" + why + ") by ClamAV on " + p.host})
	}
	return v
}

// stamp removes the fields a sender may have forged in our name, with
// add_header = false too (a forged X-Virus-Status: Clean would otherwise
// pass as this host's), and adds X-Virus-Scanned (with add_header) and,
// for a virus, X-Virus-Found.
func (p *Plugin) stamp(m *sdk.Message, virus string) []sdk.Edit {
	edits := dropOurs(m)
	if p.addHeader {
		edits = append(edits, sdk.AddHeader{Name: "X-Virus-Scanned", Value: "ClamAV on " + p.host})
	}
	if virus != "" {
		edits = append(edits, sdk.AddHeader{Name: "X-Virus-Found", Value: virus})
	}
	return edits
}

// ourFields are the fields this stage writes: one that arrives with the
// message is a claim about a scan this stage did not make.
var ourFields = []string{"X-Virus-Scanned", "X-Virus-Found", "X-Virus-Status"}

// dropOurs deletes every field of ourFields, last occurrence first so
// that the occurrence numbers stay valid.
func dropOurs(m *sdk.Message) []sdk.Edit {
	var edits []sdk.Edit
	for _, name := range ourFields {
		n := 0
		for _, h := range m.Headers {
			if strings.EqualFold(h.Name, name) {
				n++
			}
		}
		for i := n; i >= 1; i-- {
			edits = append(edits, sdk.DeleteHeader{Name: name, Occurrence: i})
		}
	}
	return edits
}

// printable keeps a name clamd sent fit for a reply line and a header
// field: printable US-ASCII, at most 200 characters.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

var _ sdk.DataHook = (*Plugin)(nil)
