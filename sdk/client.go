package sdk

import (
	"context"
	"fmt"

	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc"
)

// Client is the core's side of the protocol: it calls one plugin process's
// hooks over gRPC. It is safe for concurrent use. The core gets one from
// go-plugin (see Dispense); sdktest gets one over an in-process connection.
type Client struct {
	rpc pb.PluginClient
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
// hooks it declared. It is called once, before any hook.
func (c *Client) Init(ctx context.Context, stage string, configJSON []byte) (Info, error) {
	resp, err := c.rpc.Init(ctx, &pb.InitRequest{StageName: stage, ConfigJson: configJSON, ProtocolVersion: ProtocolVersion})
	if err != nil {
		return Info{}, fmt.Errorf("sdk: init: %w", err)
	}
	info := Info{NeedsBody: resp.GetDataNeedsBody(), Name: resp.GetPluginName(), Version: resp.GetPluginVersion()}
	for _, p := range resp.GetHooks() {
		h, err := hookFromPB(p)
		if err != nil {
			return Info{}, fmt.Errorf("sdk: init: plugin declared %w", err)
		}
		info.Hooks = append(info.Hooks, h)
	}
	return info, nil
}

// Hook calls an envelope-phase hook: connect, helo, auth, mail, rcpt or
// deliver. rcpt is the candidate recipient at rcpt and the recipient being
// delivered at deliver (required there, ignored elsewhere); auth carries
// the credentials at auth.
func (c *Client) Hook(ctx context.Context, hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs) (Verdict, error) {
	req, err := hookRequest(hook, t, rcpt, auth)
	if err != nil {
		return Verdict{}, fmt.Errorf("sdk: %s hook: %w", hook, err)
	}
	resp, err := c.rpc.Hook(ctx, req)
	if err != nil {
		return Verdict{}, fmt.Errorf("sdk: %s hook: %w", hook, err)
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

func hookRequest(hook Hook, t *Txn, rcpt *Recipient, auth *AuthArgs) (*pb.HookRequest, error) {
	switch hook {
	case HookConnect, HookHelo, HookAuth, HookMail, HookRcpt, HookDeliver:
	default:
		return nil, fmt.Errorf("not an envelope hook (use Data)")
	}
	if t == nil {
		return nil, fmt.Errorf("nil transaction")
	}
	sess, err := sessionPB(t.Session)
	if err != nil {
		return nil, err
	}
	req := &pb.HookRequest{Hook: hookToPB[hook], Session: sess, Envelope: envelopePB(t.Envelope),
		AuthResults: authResultsPB(t.AuthResults)}
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
		req.AuthMech, req.AuthUser, req.AuthSecret = auth.Mech, auth.User, auth.Secret
	}
	return req, checkFrame("hook request", req)
}
