package config

import (
	"fmt"
	"math"
)

// validateLimits checks [limits]. Zero has already become the default.
// The session limits a server cannot run without (size, recipients, line
// length, connections) must be positive; only the abuse limits take -1
// for "off", as the README's [limits] list documents.
func (c *Config) validateLimits(f finder) error {
	l := c.Limits
	if l.MaxLineLength < 1000 {
		return f.err("limits", -1, "max_line_length", "max_line_length must be at least 1000 (RFC 5321 section 4.5.3.1.6)")
	}
	for _, v := range []struct {
		key string
		n   int64
	}{
		{"max_message_size", l.MaxMessageSize},
		{"max_recipients", int64(l.MaxRecipients)},
		{"max_connections", int64(l.MaxConnections)},
	} {
		if v.n < 1 {
			return f.err("limits", -1, v.key, fmt.Sprintf("%s must be positive, not %d (it cannot be turned off)", v.key, v.n))
		}
	}
	for _, v := range []struct {
		key string
		n   int
	}{
		{"max_connections_per_ip", l.MaxConnectionsPerIP},
		{"connection_rate_per_ip", l.ConnectionRatePerIP},
		{"max_messages_per_connection", l.MaxMessagesPerConnection},
		{"max_errors", l.MaxErrors},
		{"auth_failures_per_ip", l.AuthFailuresPerIP},
		{"max_header_size", l.MaxHeaderSize},
		{"queue_minfree", l.QueueMinFree},
		{"max_hops", l.MaxHops},
		{"max_junk_commands", l.MaxJunkCommands},
		{"min_data_rate", l.MinDataRate},
		{"message_rate_per_ip", l.MessageRatePerIP.PerMinute},
		{"message_rate_per_sender", l.MessageRatePerSender.PerMinute},
		{"recipient_rate_per_sender", l.RecipientRatePerSender.PerMinute},
		{"recipient_rate_per_ip", l.RecipientRatePerIP.PerMinute},
		{"soft_errors", l.SoftErrors},
	} {
		if err := noLimitOrPositive(f, "limits", v.key, v.n); err != nil {
			return err
		}
	}
	if p := l.ClientIPv6PrefixLength; p < 1 || p > 128 {
		return f.err("limits", -1, "client_ipv6_prefix_length", fmt.Sprintf("client_ipv6_prefix_length must be from 1 to 128, not %d", p))
	}
	if m := l.MaxDataMemory; m < -1 || (m >= 0 && m < twice(l.MaxMessageSize)) {
		return f.err("limits", -1, "max_data_memory", fmt.Sprintf(
			"max_data_memory must be at least twice max_message_size (%d bytes), or -1 for no limit: with less, one message of the largest size would leave next to nothing for the other sessions", twice(l.MaxMessageSize)))
	}
	for _, r := range []struct {
		key string
		r   Rate
	}{{"message_rate_per_ip", l.MessageRatePerIP}, {"message_rate_per_sender", l.MessageRatePerSender},
		{"recipient_rate_per_sender", l.RecipientRatePerSender}, {"recipient_rate_per_ip", l.RecipientRatePerIP}} {
		if !r.r.Unlimited() && r.r.Burst < 1 {
			return f.err("limits", -1, r.key, r.key+": burst must be positive")
		}
	}
	if c.written("limits", "recipient_rate_per_ip", "burst") && !c.written("limits", "recipient_rate_per_ip", "per_minute") {
		// Its per_minute defaults to off, which would drop the burst
		// without a word.
		return f.err("limits", -1, "recipient_rate_per_ip", "recipient_rate_per_ip: a burst needs a per_minute (the limit is off without one)")
	}
	return c.validateSenderOverrides(f)
}

// noLimitOrPositive refuses a count below -1 (0 takes the default, -1 is
// no limit), at key of [table].
func noLimitOrPositive(f finder, table, key string, n int) error {
	if n < -1 {
		return f.err(table, -1, key, fmt.Sprintf("%s must be positive, or -1 for no limit, not %d", key, n))
	}
	return nil
}

// twice is 2n for n >= 0, at most math.MaxInt64: a max_message_size
// past 2^62 made 2n negative, so max_data_memory's bound passed any
// value and its default fell back to 512 MiB, less than one message.
func twice(n int64) int64 {
	if n > math.MaxInt64/2 {
		return math.MaxInt64
	}
	return 2 * n
}
