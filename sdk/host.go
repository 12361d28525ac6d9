package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/go-plugin"
	pb "github.com/sluice-mta/sluice/sdk/proto/pluginv1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// MailHandler queues m, a message the plugin of stage stage sent through
// its Mailer, and returns its queue ID ("" when it was dropped). It is
// the core's side of Mailer: its error's text is what the plugin's Send
// fails with.
type MailHandler func(ctx context.Context, stage string, m OutgoingMessage) (queueID string, err error)

// hostSlack is what a Send request may hold beyond the body limit: its
// envelope addresses and framing.
const hostSlack = 1 << 20

// hostMaxSends is how many Sends of one plugin process the core takes at
// once (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS, RFC 9113 §6.5.2); more
// wait in the plugin for a turn. Each holds a whole message in the
// core's memory, up to max_message_size: a plugin sending from a loop of
// goroutines would otherwise have the core hold them all at once.
const hostMaxSends = 8

// hostService is the core's Host service over a go-plugin broker, one per
// plugin process (see InitRequest.host_broker_id).
type hostService struct{ srv *grpc.Server }

// serveHost serves the Host service for stage under broker id id, which
// the plugin dials once Init has answered. A failure to offer it goes to
// log (nil: nowhere): go-plugin's AcceptAndServe printed it with the log
// package, on the daemon's stderr, outside its structured log.
func serveHost(broker *plugin.GRPCBroker, id uint32, stage string, h MailHandler, maxBody int64, log *slog.Logger) *hostService {
	hs := &hostService{}
	// The request carries the whole message: gRPC's 4 MiB default would
	// refuse most attachments.
	size := int(min(maxBody+hostSlack, 1<<31-1))
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(size), grpc.MaxConcurrentStreams(hostMaxSends))
	pb.RegisterHostServer(srv, &hostServer{stage: stage, handle: h})
	hs.srv = srv
	go func() {
		// The listener, a unix socket in go-plugin's socket directory
		// (the core's is the plugin process's own, removed with it), is
		// announced to the plugin over the broker's stream; when the
		// process died first, that fails ("broker closed").
		ln, err := broker.Accept(id)
		if err != nil {
			if log != nil {
				log.Warn("plugin mail not offered to the plugin", "err", err)
			}
			return
		}
		defer func() { _ = ln.Close() }()
		// Stop, before or during Serve, makes it return; the core gives
		// go-plugin no TLS config, so the broker has no credentials to add.
		_ = srv.Serve(ln)
	}()
	return hs
}

// stop ends the service and the calls under way.
func (hs *hostService) stop() { hs.srv.Stop() }

// hostServer answers a plugin's Send with the core's MailHandler.
type hostServer struct {
	pb.UnimplementedHostServer
	stage  string
	handle MailHandler
}

func (s *hostServer) Send(ctx context.Context, req *pb.SendRequest) (*pb.SendResponse, error) {
	id, err := s.handle(ctx, s.stage, OutgoingMessage{From: req.GetFrom(), To: req.GetTo(), Message: req.GetMessage()})
	if err != nil {
		if ctx.Err() != nil {
			return nil, status.FromContextError(ctx.Err()).Err()
		}
		return nil, err // Unknown, with err's text
	}
	return &pb.SendResponse{QueueId: id}, nil
}

// hostMailer is the Mailer of a plugin whose core serves Host.
type hostMailer struct{ c pb.HostClient }

func (m hostMailer) Send(ctx context.Context, om OutgoingMessage) (string, error) {
	resp, err := m.c.Send(ctx, &pb.SendRequest{From: om.From, To: om.To, Message: om.Message})
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("sdk: mail not queued: %w", ctx.Err())
		}
		if st, ok := status.FromError(err); ok {
			return "", errors.New("sdk: mail not queued: " + st.Message())
		}
		return "", fmt.Errorf("sdk: mail not queued: %w", err)
	}
	return resp.GetQueueId(), nil
}

// dialMailer is the Mailer of a plugin whose core offers Host under a
// broker id: the core serves it once Init has answered (dials_host), so
// the plugin dials it then (dial), and a Send waits for the dial.
type dialMailer struct {
	broker  *plugin.GRPCBroker
	id      uint32
	started atomic.Bool
	done    chan struct{} // closed when the dial is over
	m       Mailer        // hostMailer, or the dial's failure; set before done
}

func newDialMailer(broker *plugin.GRPCBroker, id uint32) *dialMailer {
	return &dialMailer{broker: broker, id: id, done: make(chan struct{})}
}

// dial connects to the core's Host service, in the background: go-plugin
// delivers the connection info only after Init answers.
func (d *dialMailer) dial() {
	d.started.Store(true)
	go func() {
		conn, err := d.broker.Dial(d.id)
		if err != nil {
			d.m = errMailer{fmt.Errorf("%w: dialling the core's Host service: %v", ErrNoMailer, err)}
		} else {
			d.m = hostMailer{pb.NewHostClient(conn)}
		}
		close(d.done)
	}()
}

func (d *dialMailer) Send(ctx context.Context, m OutgoingMessage) (string, error) {
	if !d.started.Load() {
		// The core serves Host once Init has answered: waiting here
		// would hold Configure, and Init, until ctx ends.
		// ErrNoMailer, as where the core serves none: a plugin
		// that tells the two apart at Configure has no reason to.
		return "", fmt.Errorf("%w: Mailer.Send is not possible before Configure has returned", ErrNoMailer)
	}
	select {
	case <-d.done:
	case <-ctx.Done():
		return "", fmt.Errorf("sdk: mail not queued: %w", ctx.Err())
	}
	return d.m.Send(ctx, m)
}

// errMailer is a Mailer that fails every Send with err.
type errMailer struct{ err error }

func (m errMailer) Send(context.Context, OutgoingMessage) (string, error) { return "", m.err }
