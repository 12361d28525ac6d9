package sdk

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// server is the plugin side of the protocol: it answers the core's RPCs by
// calling the plugin's hooks. Hooks run concurrently, one goroutine per
// RPC, so a plugin must be safe for concurrent use.
type server struct {
	pb.UnimplementedPluginServer
	p   Plugin
	log hclog.Logger // where a recovered panic's stack goes
	// broker reaches the core's Host service (Config.Mailer); nil in
	// tests that serve no broker.
	broker *plugin.GRPCBroker

	initMu     sync.Mutex
	configured atomic.Bool
	// noChannel hides Channel from the core (GRPCPlugin.NoChannel).
	noChannel bool
	// noEach hides independent batches from the core, as a plugin built
	// before them would (tests).
	noEach bool
	// noPipes has the core pass sockets, not pipes, on the direct
	// channel, as a plugin built before pipes would (tests).
	noPipes bool
}

// newServer serves p. Recovered panics are logged as JSON lines on
// stderr, which go-plugin's client re-logs in the core at their level.
func newServer(p Plugin) *server {
	return &server{p: p, log: hclog.New(&hclog.LoggerOptions{
		Name: "sluice-plugin", Output: os.Stderr, JSONFormat: true, Level: hclog.Info,
	})}
}

// Init configures the plugin once and declares its hooks.
func (s *server) Init(ctx context.Context, req *pb.InitRequest) (*pb.InitResponse, error) {
	if v := req.GetProtocolVersion(); v != 0 && v != ProtocolVersion {
		return nil, status.Errorf(codes.FailedPrecondition, "core speaks plugin protocol %d, this plugin speaks %d", v, ProtocolVersion)
	}
	s.initMu.Lock()
	defer s.initMu.Unlock()
	if s.configured.Load() {
		return nil, status.Error(codes.FailedPrecondition, "plugin already initialised")
	}
	cfg := Config{Stage: req.GetStageName(), JSON: req.GetConfigJson(), Mailer: noMailer{}, StateDir: req.GetStateDir()}
	var mailer *dialMailer
	if id := req.GetHostBrokerId(); id != 0 && s.broker != nil {
		mailer = newDialMailer(s.broker, id)
		cfg.Mailer = mailer
	}
	err := s.guard("configure", func() error { return s.p.Configure(ctx, cfg) })
	if err != nil {
		return nil, err
	}
	s.configured.Store(true)
	resp := &pb.InitResponse{DataNeedsBody: true}
	if mailer != nil {
		// The core serves Host once this answer reaches it, and the
		// dial waits (up to 5 s) for its connection info.
		resp.DialsHost = true
		mailer.dial()
	}
	chooser, _ := s.p.(HookChooser)
	for _, h := range HooksOf(s.p) {
		if chooser == nil || chooser.DeclaresHook(h) {
			resp.Hooks = append(resp.Hooks, hookToPB[h])
		}
	}
	if b, ok := s.p.(BodyOptional); ok && b.HeadersOnly() {
		resp.DataNeedsBody = false
	}
	if d, ok := s.p.(Describer); ok {
		resp.PluginName, resp.PluginVersion = d.Describe()
	}
	resp.SupportsChannel = !s.noChannel
	resp.SupportsBatch = !s.noChannel // batches come only on a channel
	resp.SupportsIndependentBatch = !s.noChannel && !s.noEach
	if fd := req.GetDirectChannelFd(); fd != 0 && !s.noChannel {
		conn, err := directConnFromFD(fd)
		if err != nil {
			s.log.Warn("no direct channel; calls come over gRPC", "err", err.Error())
		} else {
			resp.DirectChannel = true
			resp.DirectPipes = !s.noPipes
			go s.serveDirect(conn)
		}
	}
	return resp, nil
}

// Hook runs an envelope-phase hook. A hook the plugin does not implement
// answers Continue.
func (s *server) Hook(ctx context.Context, req *pb.HookRequest) (*pb.Verdict, error) {
	if !s.configured.Load() {
		return nil, status.Error(codes.FailedPrecondition, "hook called before Init")
	}
	out, err := s.hook(ctx, req)
	if err != nil {
		return nil, err
	}
	return out, checkFrame("verdict", out)
}

// hook runs an envelope-phase hook for Hook and Channel alike; its error is
// a gRPC status. The caller checks that the verdict fits in a frame (the
// direct channel does so as it encodes it).
func (s *server) hook(ctx context.Context, req *pb.HookRequest) (*pb.Verdict, error) {
	hook, err := hookFromPB(req.GetHook())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	t := &Txn{Session: sessionFromPB(req.GetSession()), Envelope: envelopeFromPB(req.GetEnvelope()),
		AuthResults: authResultsFromPB(req.GetAuthResults()), Notes: params(req.GetTxnNotes())}
	if (hook == HookRcpt || hook == HookDeliver) && req.GetRcpt() == nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s hook without a recipient", hook)
	}
	rcpt := recipientFromPB(req.GetRcpt())

	var v Verdict
	err = s.guard(string(hook), func() (err error) {
		v, err = s.dispatch(ctx, hook, t, rcpt, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	if i, err := replaceBodyIndex(v.Edits); err != nil || i >= 0 {
		return nil, status.Errorf(codes.Internal, "%s hook: ReplaceBody is only allowed at the data and bounce hooks", hook)
	}
	out, err := verdictPB(v)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s hook: %v", hook, err)
	}
	return out, nil
}

func (s *server) dispatch(ctx context.Context, hook Hook, t *Txn, rcpt Recipient, req *pb.HookRequest) (Verdict, error) {
	switch hook {
	case HookConnect:
		if h, ok := s.p.(ConnectHook); ok {
			return h.Connect(ctx, t)
		}
	case HookHelo:
		if h, ok := s.p.(HeloHook); ok {
			return h.Helo(ctx, t)
		}
	case HookAuth:
		if h, ok := s.p.(AuthHook); ok {
			return h.Auth(ctx, t, req.GetAuthMech(), req.GetAuthUser(), req.GetAuthSecret())
		}
	case HookMail:
		if h, ok := s.p.(MailHook); ok {
			return h.Mail(ctx, t)
		}
	case HookRcpt:
		if h, ok := s.p.(RcptHook); ok {
			return h.Rcpt(ctx, t, rcpt)
		}
	case HookDeliver:
		if h, ok := s.p.(DeliverHook); ok {
			return h.Deliver(ctx, t, rcpt)
		}
	case HookDisconnect:
		if h, ok := s.p.(DisconnectHook); ok {
			return Continue(), h.Disconnect(ctx, t.Session)
		}
	case HookOutcome:
		if h, ok := s.p.(OutcomeHook); ok {
			return Continue(), h.Outcome(ctx, t, outcomeFromPB(req.GetOutcome()))
		}
	default:
		return Verdict{}, status.Errorf(codes.InvalidArgument, "%s is not an envelope hook; it runs over the Data stream", hook)
	}
	return Continue(), nil
}

// guard runs one call into the plugin. A panic becomes a gRPC Internal
// error (the core applies the stage's on_error) and its stack goes to
// stderr, which go-plugin forwards to the core's log. An error the plugin
// returns becomes a gRPC error with the plugin's message.
func (s *server) guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("plugin panicked", "in", what, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = status.Errorf(codes.Internal, "plugin panicked in %s: %v", what, r)
		}
	}()
	if err := f(); err != nil {
		if _, ok := status.FromError(err); ok {
			return err
		}
		return status.Errorf(codes.Unknown, "%s: %v", what, err)
	}
	return nil
}
