package bounceclass

import "testing"

func TestOf(t *testing.T) {
	for _, c := range []struct {
		reply string
		want  Class
	}{
		// The enhanced code decides, whatever the text says.
		{"550 5.1.1 no such user", InvalidRecipient},
		{"550 5.1.1 <bob@example.net>: Recipient address rejected: spam trap", InvalidRecipient},
		{"450 4.1.1 try again", InvalidRecipient},
		{"501 5.1.3 Bad recipient address syntax", InvalidRecipient},
		{"550 5.7.17 Mailbox owner has changed", InvalidRecipient},
		{"550 5.1.2 Recipient domain does not exist", BadDomain},
		{"556 5.1.10 Recipient domain does not accept mail (null MX)", BadDomain},
		{"451 4.4.3 DNS lookup failed, will retry (SERVFAIL)", BadDomain},
		{"550 5.7.18 Domain owner has changed", BadDomain},
		{"553 5.1.7 Bad sender address syntax", InvalidSender},
		{"550 5.7.27 Sender address has null MX", InvalidSender},
		{"452 4.2.2 Mailbox full", MailboxFull},
		{"552 5.2.2 Over quota", MailboxFull},
		{"452 4.3.1 Insufficient system storage", MailboxFull},
		{"550 5.2.1 Mailbox disabled, not accepting messages", InactiveMailbox},
		{"550 5.1.6 Mailbox has moved", InactiveMailbox},
		{"525 5.7.13 User account disabled", InactiveMailbox},
		{"552 5.3.4 Message size exceeds fixed maximum message size", MessageTooLarge},
		{"552 5.2.3 Message too long", MessageTooLarge},
		{"550 5.7.1 Relaying denied", Policy},
		{"550 5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", SpamBlock},
		{"550 5.7.1 Our system has detected that this message is likely unsolicited mail (SPAM)", SpamBlock},
		{"554 5.7.1 Message rejected: virus found", Content},
		{"550 5.7.26 Unauthenticated email is not accepted", Policy},
		{"550 5.7.23 SPF validation failed", Policy},
		{"421 4.7.28 Unusual rate of unsolicited mail", SpamBlock},
		{"451 4.7.5 Server certificate not trusted (DANE), will retry", TLS},
		{"451 4.7.4 TLS is required, but was not offered by host mx.example.net[192.0.2.7]:25", TLS},
		{"550 5.7.10 REQUIRETLS needed: no TLS session with a verified certificate", TLS},
		{"550 5.7.30 REQUIRETLS support required", TLS},
		{"535 5.7.8 Authentication credentials invalid", AuthRequired},
		{"538 5.7.11 Encryption required for requested authentication mechanism", AuthRequired},
		{"550 5.4.4 No MX host of the recipient domain has an address", Routing},
		{"554 5.4.6 Mail for the recipient domain loops back to this host", Routing},
		{"451 4.4.1 No mail server could be reached, will retry (mx.example.net[192.0.2.7]:25: dial tcp 192.0.2.7:25: connect: connection refused)", Connection},
		{"421 4.4.2 Connection timed out", Connection},
		{"451 4.4.5 Destination is in backoff after repeated failures, will retry", Connection},
		{"554 5.5.1 Error: no valid recipients", Protocol},
		{"452 4.5.3 Too many recipients", Protocol},
		{"553 5.6.7 Destination does not support SMTPUTF8", Content},
		{"554 5.4.7 Delivery time expired", Other},
		{"451 4.3.0 try later", Other},
		{"451 4.3.5 Bad route for recipient, will retry", Other},
		// Sluice's 4.4.1 quotes the host's error: a certificate refused
		// under tls=verify is TLS.
		{"451 4.4.1 No mail server could be reached, will retry (mx.example.net[192.0.2.7]:25: tls: failed to verify certificate: x509: certificate has expired)", TLS},
		// A code the table does not name: its subject's class.
		{"550 5.7.99 refused", Policy},
		{"550 5.5.9 what", Protocol},
		{"550 5.6.9 bad content", Content},
		{"450 4.4.9 whatever", Routing},
		// Leading zeros are the same number.
		{"550 5.01.001 no such user", InvalidRecipient},

		// A generic code (detail 0) or none: the text.
		{"550 5.1.0 User unknown", InvalidRecipient},
		{"550 5.0.0 <bob@example.net>... User unknown", InvalidRecipient},
		{"550 Requested action not taken: no such mailbox", InvalidRecipient},
		{"550 Mailbox does not exist", InvalidRecipient},
		{"550 5.2.0 Mailbox is full", MailboxFull},
		{"452 Over quota", MailboxFull},
		{"552 Message too large", MessageTooLarge},
		{"554 Your IP is listed at bl.example.org", SpamBlock},
		{"550 5.7.0 Message rejected due to poor sender reputation", SpamBlock},
		{"530 5.7.0 Authentication required", AuthRequired},
		{"530 Must authenticate first", AuthRequired},
		{"535 go away", AuthRequired},
		{"451 4.7.0 No MX host allowed by the recipient domain's MTA-STS policy, will retry", TLS},
		{"530 5.7.0 Must issue a STARTTLS command first", TLS},
		{"550 5.0.0 Domain not found", BadDomain},
		{"550 5.2.0 Account has been disabled", InactiveMailbox},
		{"550 5.7.0 Rejected by policy", Policy},
		{"554 Transaction failed: message blocked", Policy},
		{"554 5.0.0 Virus found", Content},
		{"421 Service not available, closing transmission channel", Connection},
		{"421 4.7.0 Try again later, closing connection", Policy},
		{"451 4.0.0 Not sent: held or deleted during the attempt", Other},
		{"550 5.1.0 Address rejected", Policy},
		{"550 5.0.0 no", Other},
		{"554 go away", Other},
		// Sluice's own words, without a code: a lost connection.
		{"EOF", Connection},
		{"read tcp 127.0.0.1:40000->127.0.0.1:25: read: connection reset by peer", Connection},
		{"smtp: DATA: unexpected EOF", Connection},
		{"i/o timeout", Connection},
		{"", Other},
		{"something odd", Other},
		// Large providers' replies, multi-line ones as Sluice stores
		// them (the lines joined by a space).
		{"550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to  https://support.google.com/mail/?p=NoSuchUser a1-20020a05 - gsmtp", InvalidRecipient},
		{"552 5.2.2 The email account that you tried to reach is over quota. Please direct the recipient to  https://support.google.com/mail/?p=OverQuotaPerm - gsmtp", MailboxFull},
		{"421 4.7.0 [192.0.2.1      15] Our system has detected an unusual rate of unsolicited mail originating from your IP address. To protect our users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp", SpamBlock},
		{"421 4.7.0 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address.", SpamBlock},
		// Gmail's per-recipient throttle: X.2.1 is a disabled mailbox,
		// but Gmail defers with it a user receiving mail too fast.
		{"450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. Please resend your message at a later point. If the user is able to receive mail at that time, your message will be delivered. For more information, go to  https://support.google.com/mail/?p=ReceivingRate - gsmtp", Policy},
		{"450 4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later point. - gsmtp", Policy},
		{"450 4.2.1 Mailbox temporarily disabled", InactiveMailbox},
		{"550 5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/192.0.2.1 AS(1450)", SpamBlock},
		{"554 5.7.1 Message rejected due to DMARC policy", Policy},
		{"550 5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail requires all senders to authenticate with either SPF or DKIM. - gsmtp", Policy},
		// Microsoft 365's unknown recipient: 5.1.10 is RFC 7505's null
		// MX, but Exchange Online says it of a recipient its directory
		// does not have, and 5.4.1 when Directory Based Edge Blocking
		// refuses one.
		{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", InvalidRecipient},
		{"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient bob@example.net not found by SMTP address lookup", InvalidRecipient},
		{"550 5.4.1 Recipient address rejected: Access denied. For more information see https://aka.ms/EXOSmtpErrors [AM0PR01MB1234.eurprd01.prod.exchangelabs.com]", InvalidRecipient},
		// Microsoft's own X.7 details: its IP blocklist, spam, IP
		// reputation; an X.7 detail without such words stays policy.
		{"550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to  http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430) [BN8NAM11FT012.eop-nam11.prod.protection.outlook.com]", SpamBlock},
		{"550 5.7.350 Remote server returned message detected as spam", SpamBlock},
		{"451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [Name=Protocol Filter Agent][AGT=PFA]", SpamBlock},
		{"550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", Policy},
		{"550 5.7.64 TenantAttribution; Relay Access Denied", Policy},
		{"550 5.7.26 This mail is unauthenticated, which poses a security risk to the sender and Gmail users, and has been blocked. The sender must authenticate with at least one of SPF or DKIM. To best protect our users from spam, the message has been blocked. - gsmtp", Policy},
		// Outlook.com's.
		{"550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [DM6NAM11FT012.eop-nam11.prod.protection.outlook.com]", InvalidRecipient},
		// Yahoo's: 5.7.9 for any policy refusal, no codes for its
		// recipients.
		{"554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes", Policy},
		{"421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", SpamBlock},
		{"554 delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.com) [0] - mta1062.mail.ne1.yahoo.com", InvalidRecipient},
		{"554 delivery error: dd Sorry your message to bob@yahoo.com cannot be delivered. This mailbox is disabled (554.30). - mta1234.mail.bf1.yahoo.com", InactiveMailbox},
		{"552 1 Requested mail action aborted, mailbox not found", InvalidRecipient},

		// Not codes: text.
		{"55 5.1.1 no such user", InvalidRecipient},
		{"550 5.1.1x user unknown", InvalidRecipient},
		{"550 3.1.1 user", Other},
		{"650 5.1.1 what", Other},
	} {
		if got := Of(c.reply); got != c.want {
			t.Errorf("Of(%q) = %s, want %s", c.reply, got, c.want)
		}
	}
}

// Every class byCode, bySubject, byText and byBasic give is one of the
// constants, and the constants are distinct: the set is a metric label's.
func TestClassesClosed(t *testing.T) {
	known := map[Class]bool{}
	for _, c := range []Class{InvalidRecipient, InactiveMailbox, BadDomain, InvalidSender, MailboxFull,
		MessageTooLarge, SpamBlock, Policy, AuthRequired, TLS, Routing, Connection, Protocol, Content, Admin, Other} {
		if known[c] {
			t.Errorf("%s twice", c)
		}
		known[c] = true
	}
	check := func(where string, c Class) {
		if !known[c] {
			t.Errorf("%s: %q is no class", where, c)
		}
	}
	for k, c := range byCode {
		check("byCode "+k, c)
	}
	for k, c := range bySubject {
		check("bySubject "+k, c)
	}
	for _, r := range byText {
		check("byText", r.class)
	}
	for k, c := range byBasic {
		check("byBasic "+k, c)
	}
}
