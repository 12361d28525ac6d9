package config

import (
	"fmt"
	"strconv"

	"github.com/sluice-mta/sluice/internal/rejectfooter"
)

// defaultBanner follows the host name in the 220 greeting: RFC 5321
// §4.3.1 has the greeting begin with the server's name, and Postfix's
// smtpd_banner must begin with $myhostname for that reason; Sluice
// writes the hostname itself, so a banner cannot leave it out.
const defaultBanner = "ESMTP"

// footerLead is the longest a footer line's code and enhanced code
// ("550-5.999.999 ", RFC 3463 allows three digits each) and CRLF make
// it, on top of its text.
const footerLead = len("550-5.999.999 ") + len("\r\n")

// Greeting is the text after the host name in the listener's 220
// greeting, "220 HOSTNAME TEXT": banner, or "ESMTP" without one; ""
// greets with the host name alone.
func (l Listener) Greeting() string {
	if l.Banner == nil {
		return defaultBanner
	}
	return *l.Banner
}

// validateReplyText checks each listener's banner and reject_footer,
// the top-level reject_footer, and gives a listener without its own
// reject_footer the top-level one, so that what a listener runs is in
// its own settings (a reload hands the smtpd server the listeners).
func (c *Config) validateReplyText(f finder) error {
	if _, err := rejectfooter.Parse(c.RejectFooter); err != nil {
		return f.err("", -1, "reject_footer", "reject_footer: "+err.Error())
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Banner != nil {
			if err := CheckBanner(*l.Banner, c.Hostname); err != nil {
				return f.err("listener", i, "banner", err.Error())
			}
		}
		table, index := "listener", i
		if !c.written("listener", strconv.Itoa(i), "reject_footer") {
			l.RejectFooter = c.RejectFooter
			table, index = "", -1
		}
		if err := CheckRejectFooter(l.RejectFooter, c.Hostname, l.Name); err != nil {
			return f.err(table, index, "reject_footer", err.Error())
		}
	}
	return nil
}

// CheckBanner refuses a banner that is not printable ASCII or makes the
// greeting, "220 HOSTNAME BANNER", longer than a reply line may be;
// import-postfix checks a Postfix smtpd_banner with it.
func CheckBanner(banner, hostname string) error {
	return checkBannerText("banner", "220 ", banner, hostname)
}

// CheckRejectFooter refuses a reject_footer that rejectfooter.Parse
// refuses or one of whose lines, in the replies of the named listener
// of a server called hostname, may be longer than a reply line: checked
// here, for every client, rather than cut at each reply, with the
// macros at their widest. import-postfix checks a Postfix
// smtpd_reject_footer with it.
func CheckRejectFooter(tmpl, hostname, listener string) error {
	ft, err := rejectfooter.Parse(tmpl)
	if err != nil {
		return fmt.Errorf("reject_footer: %w", err)
	}
	if n := footerLead + ft.Longest(hostname, listener); ft != nil && n > maxReplyLine {
		return fmt.Errorf("reject_footer: a line of it may take %d bytes in listener %q's replies (its macros at their widest), more than the %d of a reply line (RFC 5321 §4.5.3.1.5)", n, listener, maxReplyLine)
	}
	return nil
}
