package sdk

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"

	"github.com/hashicorp/go-plugin"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc"
)

// PluginKey is the name of the one plugin in a Sluice plugin process's
// go-plugin plugin set.
const PluginKey = "sluice"

// Handshake is the go-plugin handshake between the core and a plugin
// process. It never changes within protocol version 1: the cookie only
// tells a plugin binary that it was started by Sluice.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "SLUICE_PLUGIN",
	MagicCookieValue: "d7f1c8a2-5b3e-4f0a-9c6d-sluice-v1",
}

// Serve runs p as a Sluice plugin process; a plugin's main is this one
// call. It returns when the core shuts the plugin down. Run by hand, the
// binary prints that it is a plugin and exits with status 1.
//
// SIGTERM and SIGINT do not end the process: one sent to the daemon's
// whole cgroup (systemd's default KillMode) reaches its plugins too, and
// the core stops them itself once it has drained its sessions. A process the plugin starts
// can still be stopped with SIGTERM.
//
// Hooks are called concurrently (one goroutine per call), so p must be
// safe for concurrent use. A panic in a hook is recovered and reported to
// the core as an error; the process keeps serving.
//
// Unless GOGC is set, the process runs its garbage collector at GOGC=400.
//
// What the plugin logs reaches the core's log with the stage's name: the
// log package and slog's default logger (at info; a JSON slog record, as
// Logger writes, at its own level) and, once Serve runs, fmt.Println
// (info) and fmt.Fprintln(os.Stderr, …) (warn). Before Serve, print nothing to
// stdout: it carries the handshake.
//
// Serve must answer the core's handshake, and Configure must return,
// within 20 seconds each, or the start fails.
//
// With SLUICE_PLUGIN_CPUPROFILE=PREFIX in its environment the process
// writes a CPU profile of its whole life to PREFIX.PID, for profiling a
// plugin under the core's load (go tool pprof PREFIX.PID).
func Serve(p Plugin) {
	// A plugin's heap is the garbage of its calls, a few kilobytes each:
	// collecting a fifth as often as Go's default saves a tenth of a cheap
	// plugin's CPU for a few megabytes. GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(pluginGCPercent)
	}
	if prefix := os.Getenv("SLUICE_PLUGIN_CPUPROFILE"); prefix != "" {
		if stop := startCPUProfile(prefix); stop != nil {
			defer stop()
		}
	}
	// The core stops its plugins itself, once it has drained its sessions
	// through them. A SIGTERM sent to the whole cgroup (systemd's default
	// KillMode; the core starts each plugin in a process group of its own)
	// must not end a plugin
	// while the core still drains: each session left would get the stage's
	// on_error. go-plugin eats SIGINT for the same reason; an orphan still
	// dies, as the core starts its plugins with a parent-death signal.
	// It is caught and dropped (the channel is never read, and a full one
	// drops the signal), not ignored: an ignored signal stays ignored
	// across exec, so a process the plugin starts could not be stopped
	// with SIGTERM and would outlive a kill -TERM of its group.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM)
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         PluginSet(p),
		GRPCServer:      plugin.DefaultGRPCServer,
	})
}

// pluginGCPercent is a plugin's GOGC unless its environment sets one.
const pluginGCPercent = 400

// PluginSet is the go-plugin plugin set serving impl under PluginKey. The
// core passes PluginSet(nil): the client side needs no implementation.
func PluginSet(impl Plugin) plugin.PluginSet {
	return plugin.PluginSet{PluginKey: &GRPCPlugin{Impl: impl}}
}

// GRPCPlugin adapts a Plugin to go-plugin's gRPC transport. Only gRPC is
// supported.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	// Impl is the plugin served; nil on the core's side.
	Impl Plugin
	// NoChannel turns the Channel stream off: a server does not offer it,
	// a client does not use it, and every call is an RPC of its own, as
	// with plugins written before Channel. For tests and comparisons.
	NoChannel bool

	// direct is the core's end of a direct channel to the process (see
	// ClientConfig), handed to the first Client.
	direct *directPair
}

// GRPCServer registers the sluice.plugin.v1 service for Impl.
func (g *GRPCPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	srv := newServer(g.Impl)
	srv.noChannel = g.NoChannel
	srv.broker = broker
	pb.RegisterPluginServer(s, srv)
	return nil
}

// GRPCClient returns a *Client over the plugin's connection.
func (g *GRPCPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	cl := NewClient(c)
	cl.noChannel = g.NoChannel
	cl.broker = broker
	if d := g.direct; d != nil {
		g.direct = nil
		d.started() // the process runs and holds its end
		if g.NoChannel {
			d.close()
		} else {
			cl.direct = d
		}
	}
	return cl, nil
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// startCPUProfile starts a CPU profile written to prefix.PID and returns
// what stops it, or nil when it cannot start (reported on stderr, which
// the core logs).
func startCPUProfile(prefix string) func() {
	f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		f.Close()
		return nil
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
