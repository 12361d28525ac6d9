package main

import "strings"

// pfReasons says why a main.cf parameter is not carried over, for those
// README's "Coming from Postfix" table has a word on; the rest get
// pfNoCounterpart.
var pfReasons = map[string]string{
	"myorigin":                           "none: only sluice sendmail qualifies bare names, with hostname",
	"alias_maps":                         "local(8) aliases: Sluice delivers no mail itself; write them as route aliases to a mailbox server's addresses",
	"alias_database":                     "local(8) aliases: Sluice delivers no mail itself",
	"mailbox_size_limit":                 "local(8) delivery: none in Sluice (a mailbox server delivers)",
	"home_mailbox":                       "local(8) delivery: none in Sluice (a mailbox server delivers)",
	"mailbox_command":                    "local(8) delivery: none in Sluice (a mailbox server delivers)",
	"biff":                               "local(8) delivery: none in Sluice",
	"virtual_mailbox_maps":               "the route rule's recipients or recipients_file (an address a line, no OK column), or probe = true: by hand",
	"local_recipient_maps":               "the route rule's recipients or recipients_file, or probe = true: by hand",
	"default_rbl_reply":                  "none: a DNS list rule's reply names the client or domain and the list, as Postfix's default does, without the list's TXT reason",
	"rbl_reply_maps":                     "none: a DNS list rule's reply names the client or domain and the list, as Postfix's default does, without the list's TXT reason",
	"parent_domain_matches_subdomains":   "the filter stage's access_parent_domains, for smtpd_access_maps; the other tables it names have no such switch",
	"header_checks":                      "filter header rules, by hand",
	"body_checks":                        "filter body rules, by hand (REPLACE of a body line: none)",
	"smtpd_helo_required":                "always on in Sluice",
	"smtpd_reject_footer_maps":           "none: one reject_footer for all of a listener's replies (top level, or the listener's own), whatever the reply",
	"smtpd_tls_auth_only":                "always on in Sluice: AUTH only under TLS",
	"smtpd_sender_login_maps":            "[auth] senders_file, written user: addr (the map's columns swapped), by hand",
	"smtp_sasl_auth_enable":              "the relay's authfile=FILE holding user:password, by hand (passwords are not copied)",
	"smtp_sasl_password_maps":            "the relay's authfile=FILE holding user:password, by hand (passwords are not copied)",
	"smtp_bind_address_enforce":          "always on in Sluice: a failed bind defers the mail",
	"lmtp_bind_address":                  "none: LMTP connections leave from the kernel's choice",
	"lmtp_fallback_relay":                "none: an lmtp: route has no fallback relay ([delivery] fallback_relay serves MX and relay mail)",
	"smtp_address_preference":            "none: a preference, where Sluice dials A then AAAA; [delivery] address_family = \"ipv4\" or \"ipv6\" dials one family only, by hand",
	"smtpd_tls_protocols":                "fixed: listeners speak TLS 1.2 and 1.3",
	"smtpd_tls_mandatory_protocols":      "fixed: listeners speak TLS 1.2 and 1.3",
	"smtp_tls_CAfile":                    "[delivery] ca_file adds one CA file to the system roots for tls=verify, by hand",
	"smtp_tls_CApath":                    "tls=verify checks against the system roots (plus [delivery] ca_file)",
	"smtpd_recipient_overshoot_limit":    "fixed in Sluice: each RCPT more than 1000 past max_recipients counts towards max_errors (Postfix's default)",
	"header_size_limit":                  "none: Postfix cuts a header field past it and takes the message; Sluice's max_header_size (100 KiB) bounds the whole header section and refuses a larger one (552 5.3.4), by hand",
	"line_length_limit":                  "none: Postfix cuts longer message lines into pieces and joins them again on delivery; Sluice's max_line_length (4096) bounds command lines and refuses a message with a longer line (500 5.5.2), by hand",
	"default_process_limit":              "bounds each master.cf service's processes: [delivery] workers (128) bounds the deliveries under way, [limits] max_connections (1000) the sessions, by hand",
	"smtpd_client_ipv4_prefix_length":    "none: each IPv4 client counts alone in the per-IP limits (Postfix's default, 32)",
	"compatibility_level":                "Postfix's own upgrade safety net",
	"milter_macro_daemon_name":           "every listener imported has its own (master.cf -o milter_macro_daemon_name), or none was imported",
	"smtpd_upstream_proxy_protocol":      "a listener's proxy_protocol, which names the proxies' networks (Postfix does not know them): write it with your proxy's address, by hand",
	"postscreen_upstream_proxy_protocol": "a listener's proxy_protocol, which names the proxies' networks (Postfix does not know them): write it with your proxy's address, by hand",
	"smtpd_upstream_proxy_timeout":       "a listener's proxy_timeout (5s by default), with proxy_protocol, by hand",
	"postscreen_upstream_proxy_timeout":  "a listener's proxy_timeout (5s by default), with proxy_protocol, by hand",
	"postscreen_greet_wait":              "a listener's greet_pause (off by default), by hand: it always drops an early talker, and keeps no cache of clients that passed",
	"postscreen_greet_action":            "a listener's greet_pause drops an early talker (554 5.5.0); ignore and enforce have no counterpart",
	"postscreen_greet_banner":            "a listener's greet_pause_banner, by hand: the text after the host name on the 220- line (\"ESMTP\" by default, on with greet_pause)",
	"postscreen_greet_ttl":               "none: greet_pause keeps no cache of clients that passed; every connection waits",
	"tls_server_sni_maps":                "a listener's tls_certs, { cert, key } pairs chosen by the names in each certificate, by hand: the map's key and certificate file lists are not read",
	"milter_connect_timeout":             "a milter stage's timeout, with smtpd_milters or non_smtpd_milters: no milter was imported",
	"milter_command_timeout":             "a milter stage's timeout, with smtpd_milters or non_smtpd_milters: no milter was imported",
	"smtpd_milter_maps":                  "a milter stage's skip_networks (a cidr: table's DISABLE lines), with smtpd_milters: no milter was imported",
	"milter_content_timeout":             "a milter stage's data_timeout, with smtpd_milters or non_smtpd_milters: no milter was imported",
}

// pfLayout are Postfix's installation paths and ownership: nothing of
// Sluice's.
var pfLayout = []string{"readme_directory", "html_directory", "manpage_directory", "sample_directory", "command_directory", "daemon_directory", "data_directory", "shlib_directory", "meta_directory", "mail_owner", "setgid_group", "sendmail_path", "newaliases_path", "mailq_path"}

// pfNoCounterpart is the reason for a parameter README's table has no row for.
const pfNoCounterpart = "no counterpart in README's \"Coming from Postfix\" table"

// rest lists every main.cf parameter not carried over, in file order.
func (im *importer) rest() {
	for _, prm := range im.p.params {
		if im.p.used[prm.name] {
			continue
		}
		why, ok := pfReasons[prm.name]
		switch {
		case ok:
		case strings.HasSuffix(prm.name, "_directory") || strings.HasSuffix(prm.name, "_path") && prm.name != "smtpd_sasl_path":
			why = "Postfix's own installation layout"
		default:
			why = pfNoCounterpart
			for _, l := range pfLayout {
				if l == prm.name {
					why = "Postfix's own installation layout"
				}
			}
		}
		im.note(prm.name, why)
	}
}
