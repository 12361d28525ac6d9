package delivery

import "context"

// RFC 8689 §5: a message whose header says "TLS-Required: No" (and that
// was not received with REQUIRETLS, smtpd decides: envelope.Message.
// TLSRequiredNo) asks that the recipient domain's TLS policies be
// ignored: an MTA-STS enforce policy is applied as testing mode (every
// MX host tried, certificate failures logged, plaintext where STARTTLS
// fails) and DANE failures are logged instead of deferring, as an MTA
// without those policies would deliver; mox does the same. A route's
// own tls= (or the relay's) is the operator's policy and stays. TLS
// reports count such sessions' failures as MTA-STS testing mode's are:
// the policy failed, though the message went. [delivery]
// tls_required_header = false ignores the field.

type tlsRequiredNoKey struct{}

// withTLSRequiredNo marks an attempt's context as delivering a message
// whose sender asked for the recipient's TLS policies to be ignored.
func withTLSRequiredNo(ctx context.Context) context.Context {
	return context.WithValue(ctx, tlsRequiredNoKey{}, true)
}

func tlsRequiredNoFrom(ctx context.Context) bool {
	v, _ := ctx.Value(tlsRequiredNoKey{}).(bool)
	return v
}

// tlsRequiredNoLog is what the log lines say of a policy ignored.
const tlsRequiredNoLog = "ignored for TLS-Required: No"
