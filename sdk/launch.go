package sdk

import (
	"fmt"
	"os"
	"os/exec"

	"github.com/hashicorp/go-plugin"
)

// ClientConfig is the go-plugin configuration that starts cmd as a Sluice
// plugin process: our handshake, our plugin set, gRPC only. The caller may
// set more fields (Logger, StartTimeout, SyncStderr, ...) before passing it
// to plugin.NewClient.
//
// When the system has unix socket pairs, it also hands the plugin process
// one end of a direct channel (see InitRequest.direct_channel_fd), which
// the Client offers the plugin at Init; plugins that support it are then
// called over that socket instead of gRPC.
//
// SLUICE_PLUGIN_TRANSPORT in the core's environment narrows the choice,
// to compare transports or to work around one: "channel" (no direct
// channel) or "rpc" (one RPC per call).
func ClientConfig(cmd *exec.Cmd) *plugin.ClientConfig {
	g := &GRPCPlugin{}
	switch os.Getenv("SLUICE_PLUGIN_TRANSPORT") {
	case "rpc":
		g.NoChannel = true
	case "channel":
	default:
		if d, err := newDirectPair(cmd); err == nil {
			g.direct = d
		}
	}
	return &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          plugin.PluginSet{PluginKey: g},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
	}
}

// Dispense starts the plugin process of pc if needed and returns the
// Client that talks to it. Kill pc to stop the process.
func Dispense(pc *plugin.Client) (*Client, error) {
	rpc, err := pc.Client()
	if err != nil {
		return nil, fmt.Errorf("sdk: start plugin: %w", err)
	}
	raw, err := rpc.Dispense(PluginKey)
	if err != nil {
		return nil, fmt.Errorf("sdk: dispense plugin: %w", err)
	}
	c, ok := raw.(*Client)
	if !ok {
		return nil, fmt.Errorf("sdk: dispense plugin: got %T, want *sdk.Client", raw)
	}
	return c, nil
}
