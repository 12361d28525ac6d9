package sdk

import (
	"github.com/hashicorp/go-plugin"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc"
)

// OldBatchPluginSet serves impl as a plugin built before independent
// batches: Channel, the direct channel (over sockets: pipes came later)
// and hook batches, but no independent ones, so the core sends it a call
// of its own each.
func OldBatchPluginSet(impl Plugin) plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &oldBatchPlugin{GRPCPlugin{Impl: impl}}}
}

type oldBatchPlugin struct{ GRPCPlugin }

func (g *oldBatchPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newServer(g.Impl)
	srv.noEach = true
	srv.noPipes = true
	pb.RegisterPluginServer(s, srv)
	return nil
}

// DirectPipes reports whether c's direct channel connections are pipe
// pairs (else sockets).
func DirectPipes(c *Client) bool {
	p := c.pool.Load()
	return p != nil && p.pipes
}

// SocketPluginSet serves impl as a plugin built before pipes: the core
// passes it sockets on the direct channel.
func SocketPluginSet(impl Plugin) plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &socketPlugin{GRPCPlugin{Impl: impl}}}
}

type socketPlugin struct{ GRPCPlugin }

func (g *socketPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newServer(g.Impl)
	srv.noPipes = true
	pb.RegisterPluginServer(s, srv)
	return nil
}
