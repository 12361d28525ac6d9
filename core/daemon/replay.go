package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/core/config"
	"github.com/sluice-mta/sluice/core/envelope"
	"github.com/sluice-mta/sluice/core/pipeline"
	"github.com/sluice-mta/sluice/core/smtpd"
	"github.com/sluice-mta/sluice/sdk"
)

// ReplayOptions describe a dry run of the pipeline over a stored message.
type ReplayOptions struct {
	From     string   // envelope sender; default: the From header's address
	To       []string // envelope recipients; default: To and Cc addresses
	ClientIP string   // default 127.0.0.1
	Helo     string   // default "replay.invalid"
	Self     string   // sluice executable for first-party plugins
	Logger   *slog.Logger
	// Listener, when set, names the [[listener]] whose session replay
	// plays: the stages not serving it are skipped as in its sessions.
	// Empty: every stage runs, as for no listener's session.
	Listener string
}

// ReplayResult is what the pipeline did: the trace, the outcome, and the
// message and envelope as the stages left them. Stage is the stage that
// decided a discard or quarantine outcome, as the trace's outcome names
// it ("quarantine by stage NAME").
type ReplayResult struct {
	Outcome  string                `json:"outcome"`
	Stage    string                `json:"stage,omitempty"`
	Reply    string                `json:"reply,omitempty"`
	Hook     sdk.Hook              `json:"stopped_at,omitempty"`
	Envelope sdk.Envelope          `json:"envelope"`
	Trace    []pipeline.TraceEntry `json:"trace"`
	Message  string                `json:"message"`
}

// Replay runs the configured pipeline over raw, stage by stage, without
// queueing or delivering anything: how a user tries a pipeline order
// before deploying it. The resulting message is what the daemon would
// queue: with our Received field, the Authentication-Results field of the
// stages' results, and no forged one claiming our hostname.
func Replay(ctx context.Context, c *config.Config, raw []byte, opt ReplayOptions) (*ReplayResult, error) {
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkReplayListener(c, opt.Listener); err != nil {
		return nil, err
	}
	ps, err := buildPipeline(c, buildOptions{stop: ctx, self: opt.Self, log: opt.Logger, dryRun: true})
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range ps.stages {
			_ = s.Close()
		}
	}()
	p := ps.pipe
	msg := pipeline.ParseMessage(raw)
	from, to := opt.From, opt.To
	if from == "<>" {
		from = "" // the null sender, as MAIL FROM:<> gives it
	} else if from == "" {
		if a, err := mail.ParseAddress(msg.Get("From")); err == nil {
			from = a.Address
		}
	}
	if len(to) == 0 {
		for _, h := range []string{"To", "Cc"} {
			if l, err := mail.ParseAddressList(msg.Get(h)); err == nil {
				for _, a := range l {
					to = append(to, a.Address)
				}
			}
		}
	}
	ip := opt.ClientIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	client, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, fmt.Errorf("replay: client IP %q: %w", ip, err)
	}
	helo := opt.Helo
	if helo == "" {
		helo = "replay.invalid"
	}
	// RelayClient as the listener would say at connect.
	// A loopback client is named as the listener names it; another
	// address is not asked of DNS (replay looks nothing up about it).
	name, _ := loopbackName(client)
	sess := sdk.Session{ID: "replay", ClientIP: ip, ClientName: name, Listener: "replay",
		RelayClient: c.InRelayNetworks(client.Unmap())}
	var s *pipeline.Session
	if opt.Listener != "" {
		sess.Listener = opt.Listener
		s = p.Open(ctx, sess)
	} else {
		s = p.OpenEvery(ctx, sess)
	}
	defer s.Close()
	res := &ReplayResult{}
	finish := func(h sdk.Hook, o pipeline.Outcome) *ReplayResult {
		res.Outcome = o.Action.String()
		if o.Reply != nil {
			res.Reply = o.Reply.String()
			res.Hook = h
		}
		res.Envelope = queuedEnvelope(*s.Envelope())
		res.Trace = s.Trace()
		res.Message = string(msg.Bytes())
		return res
	}
	if o := s.Connect(ctx); !o.OK() {
		return finish(sdk.HookConnect, o), nil
	}
	if o := s.Helo(ctx, helo); !o.OK() {
		return finish(sdk.HookHelo, o), nil
	}
	if o := s.Mail(ctx, from, nil); !o.OK() {
		return finish(sdk.HookMail, o), nil
	}
	var accepted, refused []string
	for _, r := range to {
		if _, o := s.Rcpt(ctx, sdk.Recipient{Addr: r}); !o.OK() {
			refused = append(refused, r+": "+o.Reply.String())
		} else {
			accepted = append(accepted, r)
		}
	}
	if len(s.Envelope().Rcpts) == 0 {
		o := pipeline.Outcome{Action: sdk.ActionReject}
		res = finish(sdk.HookRcpt, o)
		res.Hook = sdk.HookRcpt
		res.Reply = "no recipient accepted: " + strings.Join(refused, "; ")
		return res, nil
	}
	// The message as the listener would queue it: under our Received
	// field (with ESMTP, as after EHLO), and, when there are stages to
	// run, through the daemon's data step (runData), which writes the
	// Authentication-Results field and removes forged ones.
	t := smtpd.ReceivedTrace{Helo: helo, Client: client, ClientName: name, Host: c.Hostname, ID: replayID, Date: time.Now()}
	if len(accepted) == 1 {
		t.For = accepted[0]
	}
	body := append(smtpd.ReceivedHeader(t), raw...)
	if p.Len() == 0 {
		// The daemon gives the listener no policy without stages.
		msg = pipeline.ParseMessage(body)
		return finish(sdk.HookData, s.Data(ctx, msg)), nil
	}
	var o pipeline.Outcome
	msg, o = runData(ctx, s, replayID, c.Hostname, body)
	res = finish(sdk.HookData, o)
	res.Stage = decidedBy(s, o)
	if o.OK() && len(res.Envelope.Rcpts) == 0 && o.Action != sdk.ActionDiscard {
		// The stages removed every recipient: the listener discards the
		// message (pipelinePolicy.Data), quarantined or not, no stage's
		// decision.
		res.Outcome, res.Stage = sdk.ActionDiscard.String(), ""
	}
	return res, nil
}

// checkReplayListener says when name, given, is no [[listener]]'s,
// naming those the config has.
func checkReplayListener(c *config.Config, name string) error {
	if name == "" {
		return nil
	}
	names := make([]string, len(c.Listeners))
	for i, l := range c.Listeners {
		names[i] = l.Name
	}
	if slices.Contains(names, name) {
		return nil
	}
	return fmt.Errorf("replay: no listener %q (have: %s)", name, strings.Join(names, ", "))
}

// replayID is the queue id of a replayed message, which is never queued:
// the id of its Received field and its envelope's queue_id.
const replayID = "replay"

// queuedEnvelope is e as the queue would keep it (applyEnvelope does it
// for a received message): a recipient the stages added twice, or in
// another case, is delivered once, so replay shows it once, as its first
// occurrence.
func queuedEnvelope(e sdk.Envelope) sdk.Envelope {
	var m envelope.Message
	applyEnvelope(&m, &e)
	out := e
	out.Rcpts = make([]sdk.Recipient, 0, len(m.Rcpts))
	for _, r := range m.Rcpts {
		i := slices.IndexFunc(e.Rcpts, func(x sdk.Recipient) bool { return x.Addr == r.Addr })
		out.Rcpts = append(out.Rcpts, e.Rcpts[i])
	}
	return out
}
