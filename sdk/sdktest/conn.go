package sdktest

import (
	"context"
	"math"
	"net"
	"testing"

	"github.com/hashicorp/go-plugin"
	"github.com/sluice-mta/sluice/sdk"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

// serve runs p's gRPC service on an in-memory listener and returns a
// connection to it, both closed when the test ends. It is not go-plugin's
// TestPluginGRPCConn: that one logs its stdio streams' teardown at debug
// level on stderr ("stdio: received EOF, stopping recv loop: err=\"rpc
// error: code = Unavailable …\""), lines that read like the cause of any
// failing plugin test, and hooks use none of its other services.
func serve(t testing.TB, p sdk.Plugin) *grpc.ClientConn {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := plugin.DefaultGRPCServer(nil)
	if err := (&sdk.GRPCPlugin{Impl: p}).GRPCServer(nil, srv); err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	// The call size limits are go-plugin's, as the core dials a plugin.
	conn, err := grpc.NewClient("passthrough:///sdktest",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32), grpc.MaxCallSendMsgSize(math.MaxInt32)))
	if err != nil {
		srv.Stop()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
	})
	return conn
}
