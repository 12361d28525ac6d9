package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Client is the core's side of the protocol: it calls one plugin process's
// hooks over gRPC. It is safe for concurrent use. The core gets one from
// go-plugin (see Dispense); sdktest gets one over an in-process connection.
type Client struct {
	rpc pb.PluginClient

	// ch is the Channel stream calls go through when the plugin serves
	// it; nil means one RPC per call. chMu serialises reopening it.
	ch   atomic.Pointer[channel]
	chMu sync.Mutex
	// noChannel keeps this client on the per-call RPCs.
	noChannel bool
	// direct is the socket pair offered to the plugin at Init (see
	// ClientConfig); nil when there is none or after Init.
	direct *directPair
	// grpcChannel: the plugin serves Channel over gRPC, the fallback when
	// a direct channel breaks.
	grpcChannel bool
	// pool is the direct channel when the plugin took it; set by Init.
	pool atomic.Pointer[directPool]
	// batch: the plugin serves hook batches and there is a channel to
	// send them on (see Hooks).
	batch bool
	// each: the plugin serves independent hook batches and there is a
	// channel to send them on (see HookEach).
	each bool
	// maxBody bounds a body the plugin replaces (SetMaxBody).
	maxBody int64

	// broker is go-plugin's, over which Init serves the Host service
	// when mail is set; nil over a plain connection (NewClient).
	broker   *plugin.GRPCBroker
	mail     MailHandler  // SetMailHandler
	stateDir string       // SetStateDir
	log      *slog.Logger // SetLogger
	// host is the Host service Init started; Close stops it.
	host atomic.Pointer[hostService]
}

// SetMailHandler has the plugin's Config.Mailer send through h, served to
// the process over go-plugin's broker (a client from NewClient, with no
// broker, gives the plugin no Mailer). Call it before Init.
func (c *Client) SetMailHandler(h MailHandler) { c.mail = h }

// SetStateDir sets the plugin's Config.StateDir. Call it before Init.
func (c *Client) SetStateDir(dir string) { c.stateDir = dir }

// SetLogger sets where the Client logs what fails outside a call: the
// Host service it could not offer the plugin. Nil (the default): nowhere.
// Call it before Init.
func (c *Client) SetLogger(l *slog.Logger) { c.log = l }

// SetMaxBody sets the largest body the plugin may replace a message's
// with (default DefaultMaxBody; n <= 0 restores it): a data call whose
// answer carries more fails with ErrBodyTooLarge, its transfer stopped
// there. Call it before Init.
func (c *Client) SetMaxBody(n int64) { c.maxBody = n }

// bodyLimit returns the limit on a replaced body.
func (c *Client) bodyLimit() int64 {
	if c.maxBody <= 0 {
		return DefaultMaxBody
	}
	return c.maxBody
}

// Info is what a plugin declared at Init.
type Info struct {
	// Hooks are the hooks the plugin implements, in order; the core calls
	// no others.
	Hooks []Hook
	// NeedsBody is false when the data hook wants headers only.
	NeedsBody bool
	// Name and Version are the plugin's own, when it reports them.
	Name, Version string
}

// Has reports whether the plugin declared hook h.
func (i Info) Has(h Hook) bool {
	for _, x := range i.Hooks {
		if x == h {
			return true
		}
	}
	return false
}

// AuthArgs are the credentials passed to the auth hook.
type AuthArgs struct {
	Mech, User string
	Secret     []byte
}

// NewClient wraps a connection to a plugin serving sluice.plugin.v1.
func NewClient(conn grpc.ClientConnInterface) *Client {
	return &Client{rpc: pb.NewPluginClient(conn)}
}

// Init hands the plugin its stage name and config (JSON) and returns the
// hooks it declared. It is called once, before any hook. With a mail
// handler set (SetMailHandler), it then serves the plugin's Mailer over
// go-plugin's broker until Close.
func (c *Client) Init(ctx context.Context, stage string, configJSON []byte) (Info, error) {
	req := &pb.InitRequest{StageName: stage, ConfigJson: configJSON, ProtocolVersion: ProtocolVersion, StateDir: c.stateDir}
	if c.mail != nil && c.broker != nil {
		req.HostBrokerId = c.broker.NextId()
	}
	direct := c.direct
	c.direct = nil
	if direct != nil && !c.noChannel {
		req.DirectChannelFd = direct.fd
	}
	resp, err := c.rpc.Init(ctx, req)
	if err != nil || !resp.GetDirectChannel() || req.DirectChannelFd == 0 {
		if direct != nil {
			direct.close()
		}
		direct = nil
	}
	if err != nil {
		if st, ok := status.FromError(err); ok && (st.Code() == codes.Unknown || st.Code() == codes.InvalidArgument) {
			// The plugin's Configure refused its config: its own words
			// say why, without the RPC's wrapping. The Go SDK's Configure
			// error travels as Unknown (any error from a gRPC handler);
			// InvalidArgument is the code a plugin in another language
			// picks for a bad config (grpc's Python context.abort).
			return Info{}, &ConfigError{Msg: strings.TrimPrefix(st.Message(), "configure: ")}
		}
		return Info{}, fmt.Errorf("sdk: init: %w", err)
	}
	info := Info{NeedsBody: resp.GetDataNeedsBody(), Name: resp.GetPluginName(), Version: resp.GetPluginVersion()}
	for _, p := range resp.GetHooks() {
		h, err := hookFromPB(p)
		if err != nil {
			if direct != nil {
				direct.close()
			}
			return Info{}, fmt.Errorf("sdk: init: plugin declared %w", err)
		}
		info.Hooks = append(info.Hooks, h)
	}
	if req.HostBrokerId != 0 && resp.GetDialsHost() {
		// Only now, and only for a plugin that will dial it: the offer
		// goes over go-plugin's broker, which a plugin written without
		// the Go SDK may not serve (its listener would then be left
		// open for good).
		hs := serveHost(c.broker, req.HostBrokerId, stage, c.mail, c.bodyLimit(), c.log)
		if old := c.host.Swap(hs); old != nil {
			old.stop()
		}
	}
	c.grpcChannel = resp.GetSupportsChannel() && !c.noChannel
	// Batches travel only as channel frames.
	c.batch = resp.GetSupportsBatch() && (c.grpcChannel || direct != nil)
	c.each = resp.GetSupportsIndependentBatch() && (c.grpcChannel || direct != nil)
	if direct != nil {
		pool := newDirectPool(direct.conn, resp.GetDirectPipes())
		pool.maxBody = c.bodyLimit()
		if old := c.pool.Swap(pool); old != nil {
			old.close()
		}
	}
	if c.grpcChannel {
		ch, err := openChannel(c.rpc, c.bodyLimit())
		if err != nil {
			return Info{}, fmt.Errorf("sdk: init: open channel: %w", err)
		}
		if old := c.ch.Swap(ch); old != nil {
			old.cancel()
		}
	}
	return info, nil
}

// Close releases the client's connections to the plugin process: the
// direct channel's sockets and the Channel stream. Stopping the process is
// go-plugin's (Kill). Calls after Close go out as RPCs, which fail once the
// process is gone.
func (c *Client) Close() {
	if p := c.pool.Swap(nil); p != nil {
		p.close()
	}
	if ch := c.ch.Swap(nil); ch != nil {
		ch.cancel()
	}
	if hs := c.host.Swap(nil); hs != nil {
		hs.stop()
	}
}

// Multiplexed reports whether calls go over the plugin's direct channel or
// Channel stream rather than one RPC each.
func (c *Client) Multiplexed() bool { return c.Transport() != "rpc" }

// Transport names how calls reach the plugin now: "direct" (the Channel
// protocol on a socket pair, without gRPC), "channel" (the gRPC Channel
// stream) or "rpc" (one Hook or Data RPC per call).
func (c *Client) Transport() string {
	if p := c.pool.Load(); p != nil && p.usable() {
		return "direct"
	}
	if c.ch.Load() != nil {
		return "channel"
	}
	return "rpc"
}

// channel returns the Channel stream to call through, or nil when calls
// are RPCs of their own. A stream that broke while the plugin lives on is
// replaced; if the plugin is gone, opening fails fast and so does the call.
func (c *Client) channel() (*channel, error) {
	ch := c.ch.Load()
	if ch == nil || !ch.broken() {
		return ch, nil
	}
	c.chMu.Lock()
	defer c.chMu.Unlock()
	if cur := c.ch.Load(); cur != ch {
		return cur, nil
	}
	nch, err := openChannel(c.rpc, c.bodyLimit())
	if err != nil {
		return nil, fmt.Errorf("reopen channel: %w", err)
	}
	c.ch.Store(nch)
	return nch, nil
}

// Hook calls an envelope-phase hook: connect, helo, auth, mail, rcpt or
// deliver. rcpt is the candidate recipient at rcpt and the recipient being
// delivered at deliver (required there, ignored elsewhere); auth carries
// the credentials at auth.
func (c *Client) Hook(ctx context.Context, hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs) (Verdict, error) {
	if err := checkHook(hook, t, rcpt, auth); err != nil {
		return Verdict{}, fmt.Errorf("sdk: %s hook: %w", hook, err)
	}
	if p := c.pool.Load(); p != nil {
		// Over the direct channel the request is encoded straight from
		// the arguments (encode.go).
		enc := func(b []byte) ([]byte, error) { return appendHookFrame(b, hook, t, rcpt, auth) }
		if r, ok, err := p.call(ctx, enc, false, nil); ok {
			return hookAnswer(hook, r.verdict, err)
		}
	}
	req, err := hookRequest(hook, t, rcpt, auth)
	if err != nil {
		return Verdict{}, fmt.Errorf("sdk: %s hook: %w", hook, err)
	}
	return c.hookVerdict(ctx, hook, req)
}

// hookVerdict makes the call req to hook and checks its verdict.
func (c *Client) hookVerdict(ctx context.Context, hook Hook, req *pb.HookRequest) (Verdict, error) {
	resp, err := c.hook(ctx, req)
	return hookAnswer(hook, resp, err)
}

// callError wraps the failure of a call to hook. A plugin written against
// plugin.proto alone that declared hook at Init but serves no RPC for it
// answers Unimplemented ("Method not implemented!" from Python's grpc):
// its author is told what is missing.
func callError(hook Hook, err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented {
		rpc := "Hook"
		if hook == HookData || hook == HookBounce {
			rpc = "Data"
		}
		return fmt.Errorf("sdk: %s hook: the plugin declared it at Init but does not serve the %s RPC: %w", hook, rpc, err)
	}
	return fmt.Errorf("sdk: %s hook: %w", hook, err)
}

// hookAnswer is a hook call's result from its answer resp, or err.
func hookAnswer(hook Hook, resp *pb.Verdict, err error) (Verdict, error) {
	if err != nil {
		return Verdict{}, callError(hook, err)
	}
	v, err := verdictFromPB(resp)
	if err != nil {
		return Verdict{}, fmt.Errorf("sdk: %s hook: plugin answered %w", hook, err)
	}
	if i, _ := replaceBodyIndex(v.Edits); i >= 0 {
		return Verdict{}, fmt.Errorf("sdk: %s hook: plugin answered ReplaceBody outside the data stream", hook)
	}
	return v, nil
}

// hook sends req over the Channel stream when there is one, else as a
// Hook RPC (Client.Hook takes the direct channel first).
func (c *Client) hook(ctx context.Context, req *pb.HookRequest) (*pb.Verdict, error) {
	if err := checkFrame("hook request", req); err != nil {
		return nil, err
	}
	ch, err := c.channel()
	if err != nil {
		return nil, err
	}
	if ch == nil {
		return c.rpc.Hook(ctx, req)
	}
	r, err := ch.call(ctx, &pb.ChannelFrame{Frame: &pb.ChannelFrame_Hook{Hook: req}}, nil)
	return r.verdict, err
}

// checkHook refuses what a hook call cannot carry, as hookRequest does.
func checkHook(hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs) error {
	switch hook {
	case HookConnect, HookHelo, HookAuth, HookMail, HookRcpt, HookDeliver, HookDisconnect:
	default:
		return fmt.Errorf("not an envelope hook (use Data)")
	}
	switch {
	case t == nil:
		return fmt.Errorf("nil transaction")
	case (hook == HookRcpt || hook == HookDeliver) && rcpt == nil:
		return fmt.Errorf("no recipient")
	case hook == HookAuth && auth == nil:
		return fmt.Errorf("no credentials")
	}
	return nil
}

func hookRequest(hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs) (*pb.HookRequest, error) {
	if err := checkHook(hook, t, rcpt, auth); err != nil {
		return nil, err
	}
	sess, err := sessionPB(t.Session)
	if err != nil {
		return nil, err
	}
	req := &pb.HookRequest{Hook: hookToPB[hook], Session: sess, Envelope: envelopePB(t.Envelope),
		AuthResults: authResultsPB(t.AuthResults), TxnNotes: textParams(t.Notes)}
	if hook == HookRcpt || hook == HookDeliver {
		if rcpt == nil {
			return nil, fmt.Errorf("no recipient")
		}
		req.Rcpt = recipientPB(*rcpt)
	}
	if hook == HookAuth {
		if auth == nil {
			return nil, fmt.Errorf("no credentials")
		}
		req.AuthMech, req.AuthUser, req.AuthSecret = text(auth.Mech), text(auth.User), auth.Secret
	}
	return req, nil
}
