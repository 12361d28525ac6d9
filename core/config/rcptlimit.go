package config

import "fmt"

// RecipientLimit bounds the recipients of one outgoing transaction, as
// Postfix's default_destination_recipient_limit (smtp_ and lmtp_
// destination_recipient_limit): RFC 5321 §4.5.3.1.8 promises only 100
// recipients a transaction, and many servers refuse past 50 or 100. A
// destination's recipients past it go in further transactions on the
// same connection. A route rule's transport sets its own with
// recipient_limit=.
type RecipientLimit struct {
	// RecipientsPerTransaction is that bound for SMTP and LMTP; 0 (not
	// written) is the default, 50 as in Postfix, and -1 is no limit
	// (Postfix's 0).
	RecipientsPerTransaction int `toml:"recipients_per_transaction"`
}

// DefaultRecipientsPerTransaction is Postfix's
// default_destination_recipient_limit.
const DefaultRecipientsPerTransaction = 50

// applyRecipientLimitDefault gives recipients_per_transaction its
// default when it is not written; a 0 written stays, for validate to
// refuse.
func (c *Config) applyRecipientLimitDefault() {
	if c.Delivery.RecipientsPerTransaction == 0 && !c.written("delivery", "recipients_per_transaction") {
		c.Delivery.RecipientsPerTransaction = DefaultRecipientsPerTransaction
	}
}

// validateRecipientLimit checks [delivery] recipients_per_transaction:
// positive or -1. A 0 is refused rather than read as the default or as
// Postfix's "no limit": either reading would surprise someone.
func (c *Config) validateRecipientLimit(f finder) error {
	n := c.Delivery.RecipientsPerTransaction
	if n == 0 {
		return f.err("delivery", -1, "recipients_per_transaction", "recipients_per_transaction = 0: want a positive number, or -1 for no limit (Postfix's 0); leave it out for the default, 50")
	}
	if n < -1 {
		return f.err("delivery", -1, "recipients_per_transaction", fmt.Sprintf("recipients_per_transaction must be positive, or -1 for no limit, not %d", n))
	}
	return nil
}
