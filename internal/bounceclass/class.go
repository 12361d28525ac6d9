// Package bounceclass sorts a delivery failure's reply into a few classes,
// as KumoMTA's bounce classifier and Momentum's bounce categories do: what
// a sender acts on (drop an address, wait for a full mailbox, look at its
// reputation or its TLS) without reading each server's wording. The class
// comes from the reply's enhanced status code (RFC 3463, the registry of
// RFC 5248); a reply without one, or with a generic one (X.0.0, X.7.0 and
// the like), is read for a few well-known phrases. It is a best guess from
// what the server said: servers use codes loosely, and the reply stays
// beside the class wherever the class is shown.
package bounceclass

import "strings"

// Class is a failure's class: one of the constants below, a closed set
// (a metric label).
type Class string

// The classes.
const (
	InvalidRecipient Class = "invalid_recipient" // no such mailbox
	InactiveMailbox  Class = "inactive_mailbox"  // the mailbox exists but takes no mail
	BadDomain        Class = "bad_domain"        // the recipient domain does not exist, takes no mail, or DNS failed
	InvalidSender    Class = "invalid_sender"    // the envelope sender was refused as an address
	MailboxFull      Class = "mailbox_full"      // over quota, or the server's storage full
	MessageTooLarge  Class = "message_too_large" // over a size limit
	SpamBlock        Class = "spam_block"        // refused as spam: a blocklist, the sender's reputation
	Policy           Class = "policy"            // refused by the server's policy (relaying, SPF/DKIM, other)
	AuthRequired     Class = "auth_required"     // the server wants SMTP AUTH, or refused the credentials
	TLS              Class = "tls"               // TLS was needed and not had: STARTTLS, a certificate, DANE, MTA-STS
	Routing          Class = "routing"           // no route to the domain: no usable MX, a mail loop
	Connection       Class = "connection"        // no server reached, a connection lost or timed out
	Protocol         Class = "protocol"          // an SMTP protocol error
	Content          Class = "content"           // the content refused: a virus, a conversion not possible
	Admin            Class = "admin"             // failed by an administrator (sluice queue bounce), or held by one (queue suspend); never Of's
	Other            Class = "other"             // none of the above
)

// byCode is the class of an enhanced code, by subject.detail (the class
// digit, 4 or 5, does not change what went wrong). RFC 3463 §3 defines
// the codes without a reference here.
var byCode = map[string]Class{
	"1.1":  InvalidRecipient, // X.1.1 bad destination mailbox address
	"1.2":  BadDomain,        // X.1.2 bad destination system address
	"1.3":  InvalidRecipient, // X.1.3 bad destination mailbox address syntax
	"1.4":  InvalidRecipient, // X.1.4 destination mailbox address ambiguous
	"1.6":  InactiveMailbox,  // X.1.6 destination mailbox has moved, no forwarding address
	"1.7":  InvalidSender,    // X.1.7 bad sender's mailbox address syntax
	"1.8":  InvalidSender,    // X.1.8 bad sender's system address
	"1.10": BadDomain,        // X.1.10 recipient address has null MX (RFC 7505 §3, §4.2); Microsoft's unknown recipient: refine
	"2.1":  InactiveMailbox,  // X.2.1 mailbox disabled, not accepting messages
	"2.2":  MailboxFull,      // X.2.2 mailbox full
	"2.3":  MessageTooLarge,  // X.2.3 message length exceeds administrative limit
	"2.4":  InvalidRecipient, // X.2.4 mailing list expansion problem
	"3.1":  MailboxFull,      // X.3.1 mail system full
	"3.4":  MessageTooLarge,  // X.3.4 message too big for system
	"4.1":  Connection,       // X.4.1 no answer from host; Microsoft's unknown recipient: refine
	"4.2":  Connection,       // X.4.2 bad connection
	"4.3":  BadDomain,        // X.4.3 directory server failure: DNS did not answer
	"4.4":  Routing,          // X.4.4 unable to route
	"4.5":  Connection,       // X.4.5 mail system congestion (and Sluice's backoff)
	"4.6":  Routing,          // X.4.6 routing loop detected
	// X.4.7, delivery time expired, says nothing of why: the caller
	// classifies the last reply before the expiry instead.
	"4.7":  Other,
	"7.1":  Policy,           // X.7.1 delivery not authorized, message refused (spam words: SpamBlock)
	"7.4":  TLS,              // X.7.4 security features not supported (STARTTLS not offered)
	"7.5":  TLS,              // X.7.5 cryptographic failure (DANE)
	"7.8":  AuthRequired,     // X.7.8 authentication credentials invalid (RFC 4954 §6)
	"7.9":  AuthRequired,     // X.7.9 authentication mechanism too weak (RFC 4954 §6); Yahoo's policy refusal: refine
	"7.10": TLS,              // X.7.10 encryption needed (RFC 5248; RFC 8689's REQUIRETLS)
	"7.11": AuthRequired,     // X.7.11 encryption required for the authentication mechanism (RFC 4954 §6)
	"7.12": AuthRequired,     // X.7.12 a password transition is needed (RFC 4954 §6)
	"7.13": InactiveMailbox,  // X.7.13 user account disabled (RFC 5248)
	"7.14": AuthRequired,     // X.7.14 trust relationship required (RFC 5248)
	"7.16": MessageTooLarge,  // X.7.16 message too big for specified priority (RFC 6710)
	"7.17": InvalidRecipient, // X.7.17 mailbox owner has changed (RFC 7293 §3)
	"7.18": BadDomain,        // X.7.18 domain owner has changed (RFC 7293 §3)
	"7.27": InvalidSender,    // X.7.27 sender address has null MX (RFC 7505 §4.2)
	"7.28": SpamBlock,        // X.7.28 mail flood detected (IANA registry)
	"7.30": TLS,              // X.7.30 REQUIRETLS support required (RFC 8689 §5)
	// RFC 7372's authentication failures (DKIM, SPF, reverse DNS) and
	// RFC 8617's ARC: policy, whatever the text says (Gmail's 5.7.26
	// ends "To best protect our users from spam").
	"7.20": Policy, "7.21": Policy, "7.22": Policy, "7.23": Policy, "7.24": Policy,
	"7.25": Policy, "7.26": Policy, "7.29": Policy,
}

// bySubject is the class of an enhanced code byCode does not name, by its
// subject (RFC 3463 §3: X.0 other, X.1 addressing, X.2 mailbox, X.3 mail
// system, X.4 network and routing, X.5 mail delivery protocol, X.6
// message content or media, X.7 security or policy).
var bySubject = map[string]Class{
	"4": Routing,
	"5": Protocol,
	"6": Content,
	"7": Policy,
}

// byText are phrases (lower case) read in a reply with no enhanced code,
// a generic one (detail 0), or one of subject 0 to 3 byCode does not
// name, in this order: the first class one of
// whose phrases the text contains is the reply's. TLS and Connection come
// first for Sluice's own reasons, which quote an error (a certificate
// error, a refused connection) after a host's name.
var byText = []struct {
	class   Class
	phrases []string
}{
	{TLS, tlsPhrases},
	{Connection, []string{"connection refused", "connection reset", "timed out", "timeout",
		"broken pipe", "no route to host", "network is unreachable", "unexpected eof"}},
	{AuthRequired, []string{"authentication required", "auth required", "must authenticate",
		"authentication failed", "not authenticated"}},
	{SpamBlock, spamPhrases},
	{Content, contentPhrases},
	{MailboxFull, []string{"quota", "mailbox full", "mailbox is full", "storage full",
		"insufficient storage", "insufficient system storage", "exceeded storage"}},
	{MessageTooLarge, []string{"too large", "too big", "size limit", "message size", "exceeds size"}},
	{BadDomain, []string{"domain not found", "no such domain", "domain does not exist", "nxdomain",
		"host not found", "host unknown", "null mx"}},
	{InactiveMailbox, []string{"account disabled", "account has been disabled", "account is disabled",
		"mailbox disabled", "mailbox is disabled", "inactive", "deactivated"}},
	{InvalidRecipient, invalidRecipientPhrases},
	{Policy, []string{"policy", "denied", "not allowed", "blocked", "prohibited", "rejected"}},
}

// Phrases byText and refine share. "unsolicited" is in Gmail's 421 4.7.0
// "unusual rate of unsolicited mail", "complaints" in Yahoo's 421 4.7.0
// [TSS04] deferral.
var (
	tlsPhrases     = []string{"starttls", "x509:", "tls:", "certificate", "mta-sts", "dane", "tlsa"}
	spamPhrases    = []string{"spam", "banned sending ip", "blocklist", "blacklist", "block list", "black list", "dnsbl", "listed at", "listed in", "listed on", "listed by", "reputation", "unsolicited", "complaints"}
	contentPhrases = []string{"virus", "malware", "infected", "prohibited attachment"}
	// ratePhrases are a throttle's words in an X.2.1 reply (Gmail's).
	ratePhrases = []string{"at a rate", "too quickly", "too fast", "rate limit"}
	// "mailbox unavailable" is RFC 5321 §4.2.3's text for 550, Outlook.com's
	// (with 5.5.0) for an address it does not have; "user doesn't have" is
	// Yahoo's ("This user doesn't have a yahoo.com account", no code);
	// RecipientNotFound Microsoft 365's (with 5.1.10).
	invalidRecipientPhrases = []string{"user unknown", "unknown user", "no such user", "user not found",
		"unknown recipient", "recipient unknown", "no such recipient", "recipient not found", "recipientnotfound",
		"no such mailbox", "mailbox not found", "mailbox unavailable", "invalid recipient", "invalid mailbox",
		"does not exist", "user doesn't have"}
)

// byBasic is the class of a reply that neither its enhanced code nor its
// text placed, by its basic code (RFC 5321 §4.2.2, RFC 4954 §6).
var byBasic = map[string]Class{
	"421": Connection,   // service not available, closing the channel
	"530": AuthRequired, // authentication required
	"534": AuthRequired, // authentication mechanism too weak
	"535": AuthRequired, // authentication credentials invalid
	"538": AuthRequired, // encryption required for the mechanism
}

// Of is the class of reply, a reply as Sluice stores and logs it: "550
// 5.1.1 no such user", "421 closing", or a reason of Sluice's own without
// a code ("EOF", a dial error).
func Of(reply string) Class {
	basic, enh, text := split(reply)
	subject, detail, _ := strings.Cut(enh, ".")
	if enh != "" && detail != "0" {
		if c, ok := byCode[enh]; ok {
			return refine(c, enh, text)
		}
		if subject == "7" {
			// An X.7 detail the registry does not have, as Microsoft's
			// 5.7.606 to 5.7.649 (its own blocklist), 5.7.350 (spam)
			// and 4.7.650 (IP reputation), is a refusal by policy its
			// words may say more of, as X.7.1's.
			return refine(Policy, "7.1", text)
		}
		if c, ok := bySubject[subject]; ok {
			return c
		}
	}
	lower := strings.ToLower(text)
	if lower == "eof" || strings.HasSuffix(lower, ": eof") {
		return Connection // the connection closed under us
	}
	for _, r := range byText {
		if contains(lower, r.phrases) {
			return r.class
		}
	}
	if c, ok := bySubject[subject]; ok {
		return c
	}
	if c, ok := byBasic[basic]; ok {
		return c
	}
	return Other
}

// contains reports whether s contains one of phrases.
func contains(s string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// refine is c, the class of enhanced code enh, made more precise by the
// text where the code is shared by different failures.
func refine(c Class, enh, text string) Class {
	lower := strings.ToLower(text)
	switch {
	case enh == "7.1" && contains(lower, spamPhrases):
		// X.7.1 is any refusal by policy; a blocklist or spam filter
		// says so in the text, as a virus scanner does.
		return SpamBlock
	case enh == "7.1" && contains(lower, contentPhrases):
		return Content
	case enh == "1.10" && contains(lower, invalidRecipientPhrases):
		// Exchange Online says 550 5.1.10 RESOLVER.ADR.RecipientNotFound
		// of an address its directory does not have, not of a null MX.
		return InvalidRecipient
	case enh == "4.1" && strings.Contains(lower, "recipient address rejected"):
		// Exchange Online's Directory Based Edge Blocking refuses an
		// unknown address with 550 5.4.1 "Recipient address rejected:
		// Access denied": the host answered, the address is wrong.
		return InvalidRecipient
	case enh == "2.1" && contains(lower, ratePhrases):
		// Gmail defers a recipient receiving mail too fast with 450
		// 4.2.1 ("receiving mail at a rate that prevents additional
		// messages"): a throttle, not a disabled mailbox, which a
		// suppression list would drop once the deferrals expired.
		return Policy
	case enh == "7.9" && strings.Contains(lower, "policy"):
		// Yahoo refuses by policy (DMARC, reputation) with 554 5.7.9
		// "Message not accepted for policy reasons", at DATA, not AUTH.
		return Policy
	case enh == "4.1" && contains(lower, tlsPhrases):
		// Sluice's own 4.4.1 (no server could be reached) quotes the
		// last host's error: a certificate refused under tls=verify or
		// an MTA-STS policy is a TLS failure, not a silent host.
		return TLS
	}
	return c
}

// split cuts reply into its basic code ("550", "" when it has none), its
// enhanced code's subject.detail ("1.1", "" when it has none; RFC 3463
// §2: class "." subject "." detail, each of one to three digits) and the
// rest.
func split(reply string) (basic, enh, text string) {
	reply = strings.TrimSpace(reply)
	code, rest, _ := strings.Cut(reply, " ")
	if len(code) != 3 || !digits(code) || code[0] < '2' || code[0] > '5' {
		return "", "", reply
	}
	ec, after, _ := strings.Cut(rest, " ")
	parts := strings.Split(ec, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || (parts[0] != "2" && parts[0] != "4" && parts[0] != "5") {
		return code, "", rest
	}
	for _, p := range parts[1:] {
		if len(p) == 0 || len(p) > 3 || !digits(p) {
			return code, "", rest
		}
	}
	// "5.01.001" is "1.1": the registry's numbers, without leading zeros.
	return code, trimZeros(parts[1]) + "." + trimZeros(parts[2]), after
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
