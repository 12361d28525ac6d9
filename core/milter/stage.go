// Package milter runs a Sendmail/Postfix milter as a pipeline stage, with
// go-milter's client: one milter connection per SMTP session, the
// negotiated protocol options honoured, the macros Postfix sends, and
// every milter action mapped onto a verdict or an edit.
//
// The protocol is Sendmail's libmilter protocol version 6, as documented
// in go-milter's milter-protocol.txt and Postfix's MILTER_README; comments
// cite the SMFIC_ (MTA to milter) and SMFIR_ (milter to MTA) codes.
package milter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	milter "github.com/emersion/go-milter"

	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/sdk"
)

// Options configure a milter stage.
type Options struct {
	Name     string        // the stage's name, for logs and replies
	Addr     string        // "tcp:127.0.0.1:8891", "unix:/run/milter.sock" (also inet:PORT@HOST, local:PATH)
	Hostname string        // our host name, the j macro
	Timeout  time.Duration // bounds dial + negotiation + connect in Open; default 5s
	// DaemonNames is {daemon_name} by listener name, for the listeners
	// that set milter_daemon_name (Postfix's milter_macro_daemon_name);
	// a session of any other listener sends the listener's name.
	DaemonNames map[string]string
	// MaxBody bounds a body the milter replaces (SMFIR_REPLBODY, all its
	// packets): a larger one fails the message with sdk.ErrBodyTooLarge.
	// Default (0) 1 GiB, the bound of one packet.
	MaxBody int64
	Logger  *slog.Logger
}

// Actions we let a milter perform (SMFIF_*): all of them. With
// SETSYMLIST a milter names the macros it wants at each step in its
// SMFIC_OPTNEG answer, and gets those (conn.macros).
const actionMask = milter.OptAddHeader | milter.OptChangeBody | milter.OptAddRcpt | milter.OptRemoveRcpt |
	milter.OptChangeHeader | milter.OptQuarantine | milter.OptChangeFrom | milter.OptAddRcptWithArgs |
	milter.OptSetSymList

// Protocol steps a milter may opt out of (SMFIP_*): every step and every
// reply; SMFIR_SKIP (SMFIP_SKIP), which go-milter v0.5.0's client cannot
// parse but wireConn turns into a continue it can, remembering the skip;
// and header values with their leading white space (SMFIP_HDR_LEADSPC;
// without it one space after the colon is dropped, as Sendmail and
// Postfix do). As Postfix's protocol 6 offers. Not offered: SMFIP_RCPT_REJ
// (we do not send refused recipients).
const protocolMask = milter.OptNoConnect | milter.OptNoHelo | milter.OptNoMailFrom | milter.OptNoRcptTo |
	milter.OptNoBody | milter.OptNoHeaders | milter.OptNoEOH | milter.OptNoUnknown | milter.OptNoData |
	milter.OptNoHeaderReply | milter.OptSkip | milter.OptNoConnReply | milter.OptNoHeloReply |
	milter.OptNoMailReply | milter.OptNoRcptReply | milter.OptNoDataReply | milter.OptNoUnknownReply |
	milter.OptNoEOHReply | milter.OptNoBodyReply | milter.OptHeaderLeadingSpace

// Masks of a protocol version 2 milter (go-milter's own server is one):
// go-milter's client only downgrades when we offer nothing newer.
const (
	actionMaskV2   = actionMask & 0x3f
	protocolMaskV2 = protocolMask & 0x7f
)

// Stage is a milter as a pipeline stage. It is safe for concurrent use:
// each SMTP session opens its own connection.
type Stage struct {
	opts             Options
	network, address string
	log              *slog.Logger

	mu       sync.Mutex
	down     bool // the last dial failed
	failed   bool // a dial or a connection failed since the last good dial
	restarts int  // good dials that followed a failure
	v2       bool // the milter speaks protocol version 2 only
}

// New validates the address; it does not dial (a milter may start after
// us, and each session dials anyway).
func New(o Options) (*Stage, error) {
	network, address, err := parseAddr(o.Addr)
	if err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = maxPacket
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	return &Stage{opts: o, network: network, address: address, log: o.Logger.With("stage", o.Name, "milter", o.Addr)}, nil
}

// Kind is "milter".
func (s *Stage) Kind() string { return "milter" }

// Health reports "down" when the last dial failed, else "running" (also
// before the first session). restarts counts reconnections after a
// failure: a dial that succeeds after a failed dial, or after a
// connection broke mid-session (I/O error, milter gone, timeout).
func (s *Stage) Health() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return "down", s.restarts
	}
	return "running", s.restarts
}

// Close does nothing: connections belong to sessions.
func (s *Stage) Close() error { return nil }

// dialed records a dial's outcome.
func (s *Stage) dialed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if !s.down {
			s.log.Warn("milter unreachable", "err", err)
		}
		s.down, s.failed = true, true
		return
	}
	if s.failed {
		s.restarts++
		s.log.Info("milter reconnected", "restarts", s.restarts)
	}
	s.down, s.failed = false, false
}

// broke records a connection lost mid-session.
func (s *Stage) broke() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

// Open dials the milter, negotiates (SMFIC_OPTNEG) and sends the connect
// step (SMFIC_CONNECT with its macros), all within the stage timeout. The
// milter's answer to connect is kept for Hook(connect). Sending connect
// here means the milter sees it even when an earlier stage accepts at
// connect, so its state machine never meets a HELO before a CONNECT.
func (s *Stage) Open(ctx context.Context, sess *sdk.Session) (pipeline.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	c, err := s.dial(ctx)
	s.dialed(err)
	if err != nil {
		return nil, fmt.Errorf("milter %s: %w", s.opts.Addr, err)
	}
	c.sess = sess
	if err := c.sendConnect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// dial connects and negotiates, falling back to version 2 masks once for
// a milter that only speaks version 2, and remembering it.
func (s *Stage) dial(ctx context.Context) (*conn, error) {
	s.mu.Lock()
	v2 := s.v2
	s.mu.Unlock()
	c, err := s.dialMasks(ctx, v2)
	if errors.Is(err, milter.ErrUnsupportedMilterVersion) && !v2 {
		if c, err = s.dialMasks(ctx, true); err == nil {
			s.mu.Lock()
			s.v2 = true
			s.mu.Unlock()
		}
	}
	return c, err
}

func (s *Stage) dialMasks(ctx context.Context, v2 bool) (*conn, error) {
	am, pm := actionMask, protocolMask
	if v2 {
		am, pm = actionMaskV2, protocolMaskV2
	}
	d := &dialer{ctx: ctx}
	// Timeouts 0: go-milter leaves deadlines alone and each call sets its
	// own from the pipeline's context (see conn.arm).
	cl := milter.NewClientWithOptions(s.network, s.address, milter.ClientOptions{Dialer: d, ActionMask: am, ProtocolMask: pm})
	ms, err := cl.Session()
	if err != nil {
		if d.w != nil {
			_ = d.w.Close() // go-milter leaves it open when negotiation fails
		}
		return nil, err
	}
	d.w.SetDeadline(time.Time{})
	d.w.maxBody = s.opts.MaxBody
	// A milter may only skip what it was offered to (SMFIP_SKIP is a
	// version 6 option): go-milter takes the milter's mask as it is.
	d.w.skipOK = !v2 && ms.ProtocolOption(milter.OptSkip)
	return &conn{stage: s, ms: ms, wire: d.w, v2: v2}, nil
}

// dialer hands go-milter a wireConn dialled under ctx.
type dialer struct {
	ctx context.Context
	w   *wireConn
}

func (d *dialer) Dial(network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := d.ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	d.w = &wireConn{Conn: c}
	return d.w, nil
}

var _ pipeline.Stage = (*Stage)(nil)
