package delivery

import (
	"time"

	"github.com/sluice-mta/sluice/core/bounce"
)

// sampleOriginal is the message a sample report is about.
const sampleOriginal = "From: Sender <sender@example.com>\r\nTo: <rcpt@example.net>\r\n" +
	"Subject: A sample message\r\nMessage-ID: <sample@example.com>\r\n\r\nThe body of the message.\r\n"

// SampleReport is the report an agent made with o sends, at now, on a
// sample message to one recipient whose delivery ended as a says (a
// failure, a delay, a relay): its bounce_template, hostname, delay
// warning and max_age as the agent's own reports have them. sluice
// bounce-template prints it, as postconf -t does Postfix's templates.
func SampleReport(o Options, a bounce.Action, now time.Time) ([]byte, error) {
	r := bounce.Recipient{Addr: "rcpt@example.net", Action: a, RemoteMTA: "mx.example.net", LastAttempt: now}
	arrival := now.Add(-time.Minute)
	switch a {
	case bounce.Failed:
		r.Diagnostic = "550 5.1.1 <rcpt@example.net>: Recipient address rejected: User unknown"
	case bounce.Delayed:
		arrival = now.Add(-max(o.Bounce.delayWarning(), 0))
		r.Diagnostic = "451 4.3.0 Temporary failure, please try again later"
		r.WillRetryUntil = arrival.Add(o.Config.MaxAge.Duration)
	default:
		r.Diagnostic = "250 2.0.0 Ok: queued as 4XYZ"
	}
	return bounce.Build(bounce.Options{
		Hostname:     o.Hostname,
		To:           "sender@example.com",
		Arrival:      arrival,
		Date:         now,
		Original:     []byte(sampleOriginal),
		Rcpts:        []bounce.Recipient{r},
		Templates:    o.Bounce.Templates,
		DelayWarning: max(o.Bounce.delayWarning(), 0),
		MaxAge:       o.Config.MaxAge.Duration,
	})
}
