package sdk

import (
	"github.com/hashicorp/go-plugin"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc"
)

// OldBatchPluginSet serves impl as a plugin built before independent
// batches: Channel, the direct channel and hook batches, but no
// independent ones, so the core sends it a call of its own each.
func OldBatchPluginSet(impl Plugin) plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &oldBatchPlugin{GRPCPlugin{Impl: impl}}}
}

type oldBatchPlugin struct{ GRPCPlugin }

func (g *oldBatchPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newServer(g.Impl)
	srv.noEach = true
	pb.RegisterPluginServer(s, srv)
	return nil
}
