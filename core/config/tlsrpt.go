package config

import (
	"fmt"
	"strings"
)

// TLSReporting is [delivery]'s SMTP TLS Reporting (RFC 8460): with tls_rpt on,
// MX delivery counts its TLS sessions per recipient domain and sends each
// domain that publishes a _smtp._tls TXT record a daily report. The other
// keys name the report's sender; empty, each takes its default from the
// hostname (see Identity).
type TLSReporting struct {
	TLSRPT bool `toml:"tls_rpt"`
	// TLSRPTSubmitter is the reporting domain of the report's
	// TLS-Report-Submitter field, subject and file name (RFC 8460 §5.1,
	// §5.3). Default: hostname.
	TLSRPTSubmitter string `toml:"tls_rpt_submitter"`
	// TLSRPTFrom is the From: of a report sent by mail. Default:
	// noreply-smtp-tls-reporting@HOSTNAME.
	TLSRPTFrom string `toml:"tls_rpt_from"`
	// TLSRPTOrganization is the report's organization-name (RFC 8460
	// §4.4). Default: the submitter.
	TLSRPTOrganization string `toml:"tls_rpt_organization"`
	// TLSRPTContact is the report's contact-info (RFC 8460 §4.4), an
	// address or a URL. Default: the From address.
	TLSRPTContact string `toml:"tls_rpt_contact"`
}

// Identity is t with its defaults filled in from hostname.
func (t TLSReporting) Identity(hostname string) TLSReporting {
	hostname = strings.TrimSuffix(hostname, ".")
	if t.TLSRPTSubmitter == "" {
		t.TLSRPTSubmitter = hostname
	}
	if t.TLSRPTFrom == "" {
		t.TLSRPTFrom = "noreply-smtp-tls-reporting@" + hostname
	}
	if t.TLSRPTOrganization == "" {
		t.TLSRPTOrganization = t.TLSRPTSubmitter
	}
	if t.TLSRPTContact == "" {
		t.TLSRPTContact = t.TLSRPTFrom
	}
	return t
}

// validateTLSRPT checks the keys that go into a report's header fields:
// the submitter is a domain (RFC 8460 §5.3's domain-name), the From an
// address, and neither may carry a line break into the header.
func (c *Config) validateTLSRPT(f finder) error {
	t := c.Delivery.TLSReporting
	if s := t.TLSRPTSubmitter; s != "" && !validDomain(s) {
		return f.err("delivery", -1, "tls_rpt_submitter", fmt.Sprintf("tls_rpt_submitter %q is not a domain name", s))
	}
	if s := t.TLSRPTFrom; s != "" {
		local, domain, ok := strings.Cut(s, "@")
		if !ok || local == "" || !validDomain(domain) || strings.ContainsAny(s, " \t\r\n<>\"") {
			return f.err("delivery", -1, "tls_rpt_from", fmt.Sprintf("tls_rpt_from %q is not an address (local@domain)", s))
		}
	}
	for key, s := range map[string]string{"tls_rpt_organization": t.TLSRPTOrganization, "tls_rpt_contact": t.TLSRPTContact} {
		if strings.ContainsAny(s, "\r\n") {
			return f.err("delivery", -1, key, key+" must be one line")
		}
	}
	return nil
}
