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
	return olderPluginSet(impl, func(s *server) { s.noEach, s.noPipes = true, true })
}

// SocketPluginSet serves impl as a plugin built before pipes: the core
// passes it sockets on the direct channel.
func SocketPluginSet(impl Plugin) plugin.PluginSet {
	return olderPluginSet(impl, func(s *server) { s.noPipes = true })
}

// olderPluginSet serves impl with the features hide turns off, as a
// plugin built before them would.
func olderPluginSet(impl Plugin, hide func(*server)) plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &olderPlugin{GRPCPlugin{Impl: impl}, hide}}
}

type olderPlugin struct {
	GRPCPlugin
	hide func(*server)
}

func (g *olderPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newServer(g.Impl)
	g.hide(srv)
	pb.RegisterPluginServer(s, srv)
	return nil
}

// DirectPipes reports whether c's direct channel connections are pipe
// pairs (else sockets).
func DirectPipes(c *Client) bool {
	p := c.pool.Load()
	return p != nil && p.pipes
}
