package sdk

import (
	"context"
	"errors"
)

// Mailer queues messages of a plugin's own (reports, notifications,
// auto-replies) in the core's queue, as Haraka's outbound.send_email does
// for its plugins. A message sent this way is handled as the core's own
// reports are: the pipeline's bounce hook stages see it first (a dkim
// sign stage signs it, a route stage readdresses it), then it is synced
// to the queue and delivered on the usual schedule. It never passes the
// SMTP hooks (connect to data) of any stage, the sender's own included.
type Mailer interface {
	// Send queues m and returns its queue ID once the message is synced
	// to disk. It fails with ErrNoMailer (errors.Is) where the core
	// queues nothing (check-config, replay, sdktest without a recorder,
	// a core older than plugin mail) and when called before Configure
	// has returned (the core serves the Mailer after Init), and with the
	// core's reason when the message is refused (an invalid address, a
	// message over the size limit, no From field, the queue's disk short
	// of space). A bounce hook stage that discards the message makes
	// Send return an empty ID and no error.
	//
	// An error after ctx ended does not say the message was not queued:
	// the core may have queued it as the plugin gave up waiting. A
	// plugin that sends again after such an error may send it twice;
	// give Send a deadline of some seconds at least (a synced commit
	// and the bounce hook's stages run before it answers).
	Send(ctx context.Context, m OutgoingMessage) (queueID string, err error)
}

// OutgoingMessage is a message a plugin asks the core to queue.
type OutgoingMessage struct {
	// From is the envelope sender; "" is the null sender (<>), the
	// right one for automatic reports (RFC 3834 §3.3, RFC 7489 §7.2).
	From string
	// To are the envelope recipients, at least one.
	To []string
	// Message is the whole message, header and body; LF line ends
	// become CRLF. The plugin writes every header field it wants
	// (From, Date, Message-ID...): the core adds only a Received field
	// at the top, naming the stage and the queue ID Send returns (RFC
	// 5321 §4.4).
	Message []byte
}

// ErrNoMailer is the error of a Mailer that cannot queue mail.
var ErrNoMailer = errors.New("sdk: this core queues no plugin mail here")

// noMailer is the Mailer of a plugin whose core offers none.
type noMailer struct{}

func (noMailer) Send(context.Context, OutgoingMessage) (string, error) { return "", ErrNoMailer }
