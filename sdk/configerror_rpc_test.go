package sdk_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/sluice-mta/sluice/sdk"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
)

// refuser is a plugin written against plugin.proto alone, as one in
// another language is: its Init refuses the config with a gRPC status.
type refuser struct {
	pb.UnimplementedPluginServer
	code codes.Code
}

func (r refuser) Init(context.Context, *pb.InitRequest) (*pb.InitResponse, error) {
	return nil, status.Error(r.code, `unknown field "moed"`)
}

// A plugin in another language that refuses its config with
// INVALID_ARGUMENT (Python's context.abort) gets the same ConfigError, and
// so the same file:line of the key, as a Go plugin's Configure error.
func TestInitRefusalFromAnotherLanguageIsAConfigError(t *testing.T) {
	for _, code := range []codes.Code{codes.Unknown, codes.InvalidArgument} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		pb.RegisterPluginServer(srv, refuser{code: code})
		go func() { _ = srv.Serve(ln) }()
		conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = sdk.NewClient(conn).Init(context.Background(), "s", []byte(`{"moed":1}`))
		var ce *sdk.ConfigError
		if !errors.As(err, &ce) || ce.Key() != "moed" || ce.Msg != `unknown field "moed"` {
			t.Errorf("%v: Init error %v (%T), want a ConfigError about key moed", code, err, err)
		}
		_ = conn.Close()
		srv.Stop()
	}
}

// halfDone declares the rcpt and data hooks at Init but serves neither
// RPC, as a plugin in another language that forgot them does.
type halfDone struct{ pb.UnimplementedPluginServer }

func (halfDone) Init(context.Context, *pb.InitRequest) (*pb.InitResponse, error) {
	return &pb.InitResponse{Hooks: []pb.Hook{pb.Hook_HOOK_RCPT, pb.Hook_HOOK_DATA}}, nil
}

// Its calls fail saying what is missing, not gRPC's bare Unimplemented.
func TestDeclaredHookWithoutRPCSaysSo(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterPluginServer(srv, halfDone{})
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := sdk.NewClient(conn)
	if _, err := c.Init(context.Background(), "s", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	txn := &sdk.Txn{Envelope: sdk.Envelope{MailFrom: "a@example.org"}}
	_, err = c.Hook(context.Background(), sdk.HookRcpt, txn, &sdk.Recipient{Addr: "b@example.org"}, nil)
	if err == nil || !strings.Contains(err.Error(), "sdk: rcpt hook: the plugin declared it at Init but does not serve the Hook RPC") {
		t.Errorf("rcpt: %v", err)
	}
	msg := &sdk.Message{}
	_, err = c.Data(context.Background(), sdk.HookData, txn, msg, false)
	if err == nil || !strings.Contains(err.Error(), "sdk: data hook: the plugin declared it at Init but does not serve the Data RPC") {
		t.Errorf("data: %v", err)
	}
}
