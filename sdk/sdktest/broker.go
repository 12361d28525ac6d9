package sdktest

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
)

// connectBrokered serves p as sdk.Serve does, in this process (go-plugin's
// test mode), and returns a client reattached to it: with go-plugin's
// broker between the two, over which the harness serves the plugin's
// Mailer (mail.go), as the core does. Both sides log nowhere: go-plugin's
// test helpers log their streams' teardown on stderr, lines that read
// like the cause of any failing plugin test.
func connectBrokered(t testing.TB, p sdk.Plugin) *sdk.Client {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	reattach := make(chan *plugin.ReattachConfig, 1)
	closed := make(chan struct{})
	go plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: sdk.Handshake,
		Plugins:         sdk.PluginSet(p),
		GRPCServer:      plugin.DefaultGRPCServer,
		Logger:          hclog.NewNullLogger(),
		Test:            &plugin.ServeTestConfig{Context: ctx, ReattachConfigCh: reattach, CloseCh: closed},
	})
	stop := func() {
		cancel()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Errorf("sdktest: the plugin's server did not stop")
		}
	}
	var rc *plugin.ReattachConfig
	select {
	case rc = <-reattach:
	case <-closed:
		t.Fatal("sdktest: the plugin's server did not start")
	case <-time.After(10 * time.Second):
		stop()
		t.Fatal("sdktest: the plugin's server did not start")
	}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginSet(nil),
		Reattach:         rc,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
	})
	proto, err := pc.Client()
	if err != nil {
		stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Close asks the server to stop (go-plugin's Shutdown), and
		// Serve returns; cancelling its context as well would have two
		// goroutines stop the server at once, a data race in go-plugin.
		_ = proto.Close()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Errorf("sdktest: the plugin's server did not stop")
		}
		cancel()
	})
	c, err := sdk.Dispense(pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // before the connection closes: cleanups run last first
	return c
}
