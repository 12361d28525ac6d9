// Package filter is the first-party plugin for declarative filtering
// rules and greylisting.
//
// Rules look at the connection, the HELO name, the sender, the recipients
// and, at the data hook, the header fields, the body, the attachments and
// the size; a rule may also ask DNS lists about the client IP (DNSBL) or a
// domain (RHSBL). Each rule has an action: reject, tempfail, discard,
// quarantine, add_header, warn, redirect, bcc, replace or pass.
//
//	[[stage]]
//	name   = "filter"
//	plugin = "filter"
//	[stage.config]
//	dns_cache_ttl = "5m"                    # how long a DNS list answer is reused
//
//	[[stage.config.rules]]
//	name   = "zen"
//	hook   = "connect"
//	dnsbl  = ["zen.spamhaus.org"]
//	action = "reject"
//	text   = "Client listed at zen.spamhaus.org"
//
//	[[stage.config.rules]]
//	name        = "exe"
//	hook        = "attachment"
//	mime_types  = ["application/x-msdownload"]
//	filenames   = ['(?i)\.(exe|scr|js)$']
//	action      = "reject"
//	code        = 554
//	enhanced    = "5.7.1"
//	text        = "Executable attachments are not accepted"
//
//	[[stage.config.rules]]
//	name         = "tag-dbl"
//	hook         = "mail"
//	rhsbl        = ["dbl.spamhaus.org"]
//	action       = "add_header"
//	header_name  = "X-Filter"
//	header_value = "sender domain listed"
//
//	[stage.config.greylist]
//	enabled                = true
//	delay                  = "5m"    # a retry must wait this long
//	expiry                 = "24h"   # ... and come within this long
//	whitelist_ttl          = "36d"   # a passed triplet stays whitelisted this long after its last mail
//	client_whitelist_after = 5       # whitelist a client network after 5 passed triplets (0: never)
//	state_dir              = "/var/lib/sluice/greylist"
//	skip_networks          = ["127.0.0.0/8", "::1/128"]
//	max_entries            = 1000000 # records kept at most (about 280 bytes each); -1: no cap
//
// # Rules
//
// hook says when a rule is checked and what it looks at:
//
//	connect     match: the client IP, and its verified host name ("" when
//	            it has none, which "^$" matches); rhsbl: that name
//	helo        match and rhsbl: the HELO/EHLO name
//	mail        match: the sender address ("" for <>); rhsbl: its domain
//	rcpt        match: the recipient address; rhsbl: its domain
//	header      match: each field named header (value unfolded, and again with
//	            RFC 2047 words decoded, in any charset), or without header
//	            each field as "Name: value", unfolded and again decoded;
//	            rhsbl: the domains of the addresses in the field;
//	            missing = true: the message has no field named header;
//	            duplicate = true: it has the field named header more than
//	            once, or without header any of the fields RFC 5322 §3.6
//	            allows once (Date, From, Sender, Reply-To, To, Cc, Bcc,
//	            Message-ID, In-Reply-To, References, Subject); names are
//	            compared without case, and neither takes match or rhsbl
//	body        match: the first 512 KiB of the raw body, and the first
//	            64 KiB of each text part, base64 or quoted-printable decoded
//	            (base64 as RFC 2045 §6.8 has it: what is not in its
//	            alphabet is skipped) and converted from its charset to
//	            UTF-8, up to 1 MiB of text parts in all; HTML parts are
//	            matched as HTML, tags and entities included
//	attachment  mime_types ("type/subtype" or "type/*") or filenames (regular
//	            expressions) against every non-multipart MIME part, nested
//	            multiparts and attached messages included; either list
//	            matching a part is enough. A part's file names are its
//	            Content-Disposition filename and its Content-Type name,
//	            each as written and in its RFC 2231 form (continuations
//	            joined, any charset), RFC 2047 words decoded: every one
//	            is matched, as clients differ in which they save under.
//	            Parameters are read as clients read them: a malformed
//	            one is skipped, not the whole field
//	size        min_size: the message (header and body) has at least this
//	            many bytes
//	envelope    min_recipients: the message has at least this many
//	            recipients, as the stages before the filter left the
//	            envelope (run the filter before a route stage whose
//	            aliases expand one address into several); match: the
//	            sender ("" for <>), so that "^$" with min_recipients = 2
//	            refuses a bounce to more than one recipient, which no
//	            real bounce has (Haraka's bounce single_recipient)
//
// A rule's conditions must all hold: match, dnsbl (the client IP is listed
// in one of the zones; any hook), rhsbl (one of the domains is listed in
// one of the zones) and networks (the client IP is in one of these CIDR
// networks or addresses; any hook: a pass rule on networks spares the
// site's own hosts the rules after it, as Postfix's permit_mynetworks
// does) and unknown_domain (mail and rcpt: the sender's or recipient's
// domain has no MX and no address record, or a null MX, as Postfix's
// reject_unknown_sender_domain asks; a sender's domain is not asked
// about for an authenticated session or a relay_networks client, as
// dnsbl is not; a failed look-up lets the mail through and is noted in
// the trace; the default reply is Postfix's,
// "550 5.1.8 Sender address rejected: Domain not found", 5.1.2 for a
// recipient, and for a null MX RFC 7505's 550 5.7.27 (sender) or 556
// 5.1.10 (recipient), each part the rule does not set) and
// authenticated (true: the session authenticated, by AUTH or XCLIENT's
// LOGIN; false: it did not; mail, rcpt and the data hook's rules only,
// as a session authenticates after EHLO and the connect and helo hooks
// never see it, delay_reject or not: an error there). A pass rule on
// authenticated = true first is Postfix's permit_sasl_authenticated: it
// spares the site's users the rules after it at its hook, such as an
// access table refusing the site's own domains as senders from
// outside. Every rule needs one:
// connect, helo, mail and rcpt rules match, dnsbl, rhsbl or networks
// (mail and rcpt also unknown_domain or authenticated), or access, a Postfix access table
// that is the whole rule (see "Access tables"); header rules match, rhsbl, missing or
// duplicate; body rules match; envelope rules min_recipients. Regular expressions are Go's RE2 syntax, matched
// anywhere in the text unless anchored. A key that does not apply to the
// rule's hook or action is a configuration error.
//
// The MIME walk of attachment rules is bounded: it descends 100 levels of
// multiparts and attached messages and looks at 10,000 entities. A message
// that goes past either limit is not known to be free of what the rule
// looks for, and an attachment rule that refuses (reject, tempfail,
// discard, quarantine) and found nothing in the part walked treats it as
// matched ("MIME nesting deeper than 100 levels: not inspected further"),
// as Postfix refuses a message past its mime_nesting_limit, and so does a
// warn rule (it tells what such a rule would do); a pass, add_header, redirect
// or bcc rule does not. An rhsbl header rule asks about the first 32
// distinct domains of its field; the reason notes when there were more.
//
// Rules are evaluated in the order written, per hook; header, body,
// attachment, size and envelope rules are all evaluated at the data hook, together,
// in order. The first rule that matches ends the evaluation of that hook
// with its action, except add_header, redirect, bcc, replace and warn:
// add_header's field, redirect's and bcc's address and replace's fields are
// collected, warn is logged, and the evaluation goes on. The collected fields are added, the recipients
// redirected and the bcc addresses added, at the data hook
// (those of connect, helo, mail and rcpt rules too, once per rule: see
// "Rules matched before data"). pass ends the evaluation with no
// action: a way to exempt a client, sender or recipient from the rules
// after it, and at rcpt from greylisting.
//
// reject answers code/enhanced/text (default 550 5.7.1 "Message refused by
// policy", 554 at connect, RFC 5321 §3.1); tempfail answers 451 4.7.1 "Try
// again later" by default. A rule that matched on a DNS list's listing
// and has no text of its own names the list instead, as Postfix's rbl
// reply does: "Client host [192.0.2.1] listed at zen.spamhaus.org",
// "Sender domain [spam.example] listed at dbl.spamhaus.org" (HELO name,
// Recipient domain, Client host name, or the header's name for the
// other hooks). discard and quarantine are the pipeline's actions;
// before data they apply to the message that follows.
//
// warn is Postfix's WARN, a way to watch what a rule would catch before
// making it reject: a match lets the mail through (continue) and is logged
// at info, one line through the core's log with the stage's name
// (msg="filter: warn rule matched", rule, hook, why — what matched, as a
// refusal's reason says it — session, client, and id, the queue id, at
// the data hook; rcpt at rcpt), and the verdict's reason, which the
// trace and replay show, says `rule "NAME" (warn): WHY (warn only: let
// through)`. A warn rule takes no code, enhanced or text.
//
// redirect is Postfix's REDIRECT: the message goes to the rule's redirect
// address instead of its recipients. At data the verdict removes each
// recipient and adds the address (the pipeline's recipient edits, which
// the trace shows); the sender is unchanged. When several redirect rules
// match, the last one written wins. A redirect rule takes no code,
// enhanced, text or header keys; its address must be local-part@domain.
//
// bcc is Postfix's header_checks BCC: the rule's bcc address gets a copy
// of the message, one more envelope recipient added at data; the other
// recipients, the header and the later stages' view of the message are
// unchanged but for that recipient. It is added with NOTIFY=NEVER (RFC
// 3461), as Postfix adds a BCC recipient as if with NOTIFY=NONE: the
// sender hears nothing of the copy's delivery or failure. Each address is
// added once however many bcc rules name it, and not when it is already
// a recipient; after a redirect, the redirect's address is the only
// recipient, and a bcc copy is still added (Postfix's REDIRECT takes its
// BCC recipients too). The reason, which the trace shows, says
// `(copy to <ADDR>, NOTIFY=NEVER)` or `(<ADDR> already a recipient: no
// copy added)`. A message a rule or a later stage refuses or discards is
// not copied; one quarantined is held with the bcc address among its
// recipients. A bcc rule takes no code, enhanced, text or header keys; its
// address is checked as redirect's is.
//
// replace is Postfix's header_checks REPLACE: a header rule with
//
//	match   = '(?i)^(.*viagra.*)$'
//	header  = "Subject"
//	action  = "replace"
//	replace = "Subject: [SPAM] $1"
//
// puts its field in place of every field its match matches, at the same
// place in the header (the pipeline's header edits at data: a change of
// the field's value when the name stays, else a delete and an insert at
// its index; the trace shows them and the later stages see the result).
// A folded field is replaced whole, as Postfix's header_checks read one
// logical header at a time. $1, ${1}, ${name} and $0 in the value are the
// match's groups (Go's regexp.Expand; $$ is a $), taken from the form of
// the field that matched: the value, or "Name: value" without header,
// unfolded, or else with RFC 2047 words decoded. In the new value a
// line break or NUL copied from decoded text is dropped; non-ASCII words
// are encoded (RFC 2047, UTF-8) unless the field held raw 8-bit text,
// the words alone, so an address beside them stays one; and the value is
// folded at white space to lines of 78 characters (RFC 5322 §2.1.1).
// replace = "" deletes the fields (Postfix's IGNORE); the headers plugin's
// remove deletes every field of a name, whatever it says. When several
// replace rules match a field, the first written takes it, as in Postfix
// the first pattern that matches a line decides. Every rule, before and
// after, still reads the message as received: a reject rule after a
// replace rule refuses on what the sender sent. The replace text must be
// "Name: value" on one line, the name a field name (RFC 5322 §3.6.8) without
// $, and its references must name groups of match ("$1x" is the group
// "1x": write ${1}x); replace needs match, applies to header rules only
// (Postfix's body_checks REPLACE, which rewrites a body line, is not
// done) and takes no code, enhanced, text or header keys.
//
// # Rules matched before data
//
// An add_header, redirect or bcc rule of the connect, helo, mail or rcpt
// hook is acted on at data when it matched at its hook, whatever the
// stages before the filter have made of the envelope since: a bcc rule
// on ^ceo@ copies a message sent to ceo@ that a route alias turned into
// alice@ and bob@ at data, and a rule that matched no recipient at RCPT
// does nothing though a recipient at data would match it. The plugin
// keeps what each session's hooks matched, in memory, and forgets it when
// the core tells it the session ended (the disconnect hook, declared only
// when such a rule is configured: sdk.HookChooser). The core
// tells it nothing of RSET, and does not ask it at a
// MAIL or RCPT a stage before it accepted; each call carries the number
// of its transaction in the session (Session.Transaction), and what was
// matched in one transaction is never acted on in another; a call the
// core gave up waiting for that finishes after the next transaction
// began records nothing. A MAIL or a
// HELO starts the transaction's record again, the data hook ends it, and
// a session not heard of for an hour is forgotten, as are the least
// recently heard of past 100,000 sessions: a bound for the sessions whose
// end it is not told of (a Sluice older than the disconnect hook, a
// disconnect call that failed, a call that finished after it).
// A Sluice older than the transaction number sends none; the filter then
// takes a RCPT whose envelope lacks a recipient it recorded as taken for
// the start of another transaction.
//
// A recipient whose rules matched counts when a stage after the filter
// took it too: a later RCPT's envelope holds it, or at data it is still
// a recipient, a recipient's ORCPT names it (the route stage gives an
// alias's targets the alias's address, RFC 3461 §5.2.7), or it was the
// first recipient taken. Otherwise (the last RCPT, refused by a later
// stage, or rewritten by a stage that sets no ORCPT) its rules are not
// acted on, and the data hook's reason says so.
//
// A hook the plugin was not asked about has its rules evaluated at data,
// from the session and the envelope as they are there: a process
// started since (a restart), a session forgotten, or a hook a stage
// before the filter accepted outright. The reason then says "rules of
// hooks before data evaluated again at data".
//
// # Access tables
//
// A connect, helo, mail or rcpt rule with access = "TYPE:/path" is
// Postfix's check_client_access, check_helo_access, check_sender_access
// or check_recipient_access: a Postfix access(5) table whose keys say
// what is looked for and whose values what is done.
//
//	[stage.config]
//	detail_separator      = "+"    # Postfix's recipient_delimiter, for access rules
//	access_parent_domains = true   # a domain key matches its subdomains (the default)
//
//	[[stage.config.rules]]
//	name   = "sender-access"
//	hook   = "mail"
//	access = "hash:/etc/postfix/sender_access"
//
// TYPE is hash, btree, lmdb, cdb, dbm, sdbm or texthash (the file named
// is the text file postmap builds the table from, as the path is written
// in main.cf, not the .db or .lmdb it builds: naming that is an error),
// cidr, regexp or pcre; without one, hash (default_database_type); a
// leading proxy: is dropped. Such a rule takes no other condition (match,
// dnsbl, rhsbl, networks, unknown_domain, authenticated) and no action, code, enhanced,
// text, header, redirect or bcc key: the table's values are those. Write
// a rule before it for another condition, as Postfix writes
// permit_mynetworks before a check.
//
// What is looked up, in access(5)'s order, the first key found deciding:
//
//	connect  the client's verified name ("unknown" without one), then its
//	         parent domains, then the address (an IPv4-mapped one as
//	         IPv4) and its networks: 192.0.2.1, 192.0.2, 192.0, 192; IPv6
//	         by dropping the last ":group" of the compressed form:
//	         2001:db8::1, 2001:db8:, 2001:db8, 2001
//	helo     the HELO name and its parent domains; an address or an
//	         address literal ([192.0.2.1]) as it is
//	mail     the sender: user+ext@domain, user@domain (with
//	         detail_separator), domain and its parent domains, user+ext@,
//	         user@; the null sender as "<>"
//	rcpt     the recipient, as the sender
//
// A parent domain key matches its subdomains (example.com for
// mx.example.com, and com too, as Postfix asks); with
// access_parent_domains = false a key matches that domain alone and
// ".example.com" its subdomains, as Postfix without smtpd_access_maps in
// parent_domain_matches_subdomains. detail_separator's characters split
// the extension at the first of them, as Postfix's recipient_delimiter
// does (not postmaster, MAILER-DAEMON or double-bounce, nor with "-"
// owner-list and list-request); set it as the route stage's. Keys are
// found without case in key-value tables. A cidr, regexp or pcre table is
// asked about the whole string only, as Postfix asks it: the client's
// name ("unknown" without one) then its address, the HELO name, the
// whole address; a cidr table finds only addresses.
//
// A value is read as Postfix's smtpd reads it, its first word without
// case: OK, RELAY and an all-numerical value pass (the hook's rules after
// it are not evaluated and, at rcpt, the recipient is not greylisted, as
// a pass rule); DUNNO is as no match, and keeps the less specific keys
// from being asked; REJECT [text] answers 554 (access_map_reject_code),
// DEFER [text] 450 (access_map_defer_code), 4NN text and 5NN text that
// code, each "<what>: Class rejected: text" with Postfix's words
// ("<bob@spam.example>: Sender address rejected: Access denied" without
// a text; Client host, Helo command, Recipient address; the client as
// name[address]) and the enhanced status the text begins with, else
// X.7.1; an address status (X.1.Y) is made one that fits, as Postfix's
// smtpd_dsn_fix makes it (X.1.7 or X.1.8 for a sender, X.0.0 for a
// client or HELO name), and its class is the code's. DISCARD discards;
// HOLD quarantines unless a rule after it refuses; REDIRECT addr, BCC
// addr and PREPEND "Name: value" are the redirect, bcc and add_header
// actions, acted on at data; WARN text and INFO text are warn rules.
// DEFER_IF_REJECT [text] answers 450 4.7.1 "Service unavailable" in
// place of a reject by a later rule of the hook, and DEFER_IF_PERMIT
// [text] in place of a later pass, or when the hook's rules end without a
// refusal: Postfix's go on to the end of the restriction list, and the
// filter, which knows only its own rules, goes to the end of them. A
// reply's text is made printable ASCII. A value Sluice cannot act on is
// an error naming the file and line: FILTER, HANGUP, a Postfix
// restriction (permit_mynetworks, reject_unauth_destination, ...), a
// restriction class (smtpd_restriction_classes) or a lookup table in a
// value, a REDIRECT or BCC without an address, a PREPEND that is no
// field (or whose value is not one line without NUL, or whose field
// passes the 998 characters of a line), a key without a value.
//
// A table file is read the way Postfix reads it: a line starting with
// white space continues the one before, and lines starting with # are
// comments. A key-value table's key is its first word, folded to lower
// case (a key given twice keeps its first value, as postmap does). A
// cidr table has "network/prefix value" or "address value" lines, the
// address in [] or not ("[network/prefix]" too), "!" before a pattern
// for what is outside it (of its own address family: "!2001:db8::/32" is
// no rule about IPv4 clients, as in Postfix), and "if pattern" ..
// "endif" blocks (Postfix 3.2); a prefix with host bits set is an error. A regexp or pcre table has "/pattern/flags value"
// lines (any delimiter, a backslash escaping it), "!/pattern/" for what does not
// match, "if /pattern/" .. "endif" blocks, and in regexp tables the old
// "/re1/!/re2/" form; $1, ${1} and $(1) in a value are the pattern's
// groups ($$ is a $). The patterns are compiled as Go's RE2, which has no
// back-references or look-around: such a pattern is an error naming its
// line. Flags toggle from Postfix's defaults: regexp i (ignore case, on),
// m (multi-line, off), x (extended syntax, on: a basic expression is
// refused); pcre i (on), s (dot matches newline, on), m, U (ungreedy), A
// (anchored) (off), E and X (no difference in RE2), x refused. A regexp
// table's matches are the leftmost longest, as POSIX's, for its groups.
//
// The file is read again when it changes on disk (checked at each lookup;
// a reload alone does not restart an unchanged stage): replace it whole,
// by writing a new file and renaming it over the old. At start a missing
// or wrong table is an error (check-config's too); later the table read
// before stays in force, a warning says why once per failure
// (msg="filter: access table not read again: ..." with rule, table and
// error), and the reason of each verdict of the rule notes it. A file
// that could not be read at all (a permission) is tried again at each
// lookup, so that a chmod, which changes neither its time nor its size,
// mends it. A hit's
// reason names the rule, what was looked up, the key or pattern found,
// the table, its line and its value.
//
// # DNS lists
//
// A DNSBL zone is asked for the client IP's reversed IPv4 octets or
// reversed IPv6 nibbles followed by the zone, an RHSBL zone for the domain
// followed by the zone (RFC 5782 §2). An A answer in 127.0.0.0/8 means
// listed, except 127.0.0.1 and 127.255.255.0/24, which lists use for
// "query refused" (noted in the reason, not cached). A zone written with
// Postfix's answer filter, "zen.spamhaus.org=127.0.0.[2..11]" (each
// octet a number or a bracketed list of numbers and n..m ranges apart
// by ";"), counts only the answers the filter matches; the rest are no
// listing. NXDOMAIN means not listed; a list that cannot answer
// (SERVFAIL, timeout) counts as not listing, and the failure is noted in
// the verdict's reason. Answers are cached by the plugin process for
// dns_cache_ttl. The servers are the core's [dns] servers
// (dnsresolve.FromEnv).
//
// A dnsbl condition does not hold for an authenticated session or a
// client in relay_networks, and the list is not asked: Postfix has
// permit_sasl_authenticated and permit_mynetworks before
// reject_rbl_client. AUTH comes after connect and helo, so a dnsbl rule
// meant to spare authenticated users belongs at mail or rcpt.
//
// # Greylisting
//
// At the rcpt hook, after the rcpt rules (a rule that ends the evaluation
// decides instead), a recipient is greylisted by the triplet of client
// network (the IPv4 /24 or IPv6 /64 of the client), sender and recipient
// (RFC 6647). The first attempt of a triplet, and any retry sooner than
// delay, answers 451 4.7.1 "Greylisted, try again later". A retry after
// delay and within expiry of the first attempt passes and whitelists the
// triplet for whitelist_ttl after its last mail; a later retry starts
// over. With client_whitelist_after N, a client network whose N triplets
// have passed is whitelisted as a whole. Authenticated sessions and
// clients in skip_networks are never greylisted. Without skip_networks,
// loopback is skipped (the host's own `sluice sendmail`); skip_networks =
// [] greylists it too. The plugin does not know relay_networks: list
// them in skip_networks, as Postfix has permit_mynetworks before its
// policy service.
//
// Addresses are compared without case. The sender is taken as postgrey
// takes it, so that a return path that changes with every message or
// every day is one sender: without its +extension, with each number
// standing alone in its local part as "#" (VERP: list-bounces-4711-bob=
// example.org@ is list-bounces-#-bob=example.org@), without a BATV tag
// (prvs=TAG=alice@ is alice@) and without the hash and day stamp of an
// SRS address. The null sender <> is a sender of its own.
//
// The state is kept in state_dir: greylist.json, a snapshot replaced
// atomically, and greylist.log, the records changed since, appended and
// fsynced at each change and folded into the snapshot when it grows.
// Records that expired (first attempts older than expiry, whitelistings
// older than whitelist_ttl) are dropped every 10 minutes, so the state
// holds what a day's attempts left, not every attempt ever made. Nor
// more than max_entries records: past it, the oldest first attempts are
// dropped (an eighth of the cap at a time), then the least recently used
// whitelistings, as a client cycling through senders or recipients would
// otherwise add a record per RCPT for as long as expiry. A
// first attempt stamped later than the clock now reads (the clock was
// stepped back) counts as no attempt. A new
// plugin process over the same state_dir (a restart, a reload) carries on
// where the last one stopped. One process at a time owns a state_dir. A
// state file that cannot be read (damaged, of a later version) does not
// stop the filter: a warning names it, the owner renames it NAME.bad and
// greylisting goes on without its records.
package filter
