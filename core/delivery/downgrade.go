package delivery

import (
	"strings"

	"github.com/sluice-mta/sluice/core/dnsresolve"
	"github.com/sluice-mta/sluice/core/envelope"
)

// asciiEnvelope returns the reverse-path and the recipients' addresses as
// they may go to a server that does not offer SMTPUTF8, or ok false when
// they cannot go there. A domain in Unicode is the same domain as its
// A-label (RFC 5890 §2.3.2.1), and RFC 6531 §3.2 lets it be sent so when
// the next hop lacks SMTPUTF8; a local part in UTF-8 has no ASCII
// equivalent at all. A domain that is not valid IDNA fails too: the name
// sent must be the same domain. The header section is the caller's to
// check (headerASCII).
func asciiEnvelope(from string, rcpts []*envelope.Recipient) (string, []string, bool) {
	from, ok := asciiAddr(from)
	if !ok {
		return "", nil, false
	}
	addrs := make([]string, len(rcpts))
	for i, r := range rcpts {
		if addrs[i], ok = asciiAddr(r.Addr); !ok {
			return "", nil, false
		}
	}
	return from, addrs, true
}

// asciiAddr is addr with its domain as A-labels, ok false when its local
// part is not ASCII or its domain does not convert.
func asciiAddr(addr string) (string, bool) {
	if ascii(addr) {
		return addr, true
	}
	at := strings.LastIndexByte(addr, '@') // the local part may hold "@" (RFC 5321 §4.1.2)
	if at < 0 || !ascii(addr[:at]) {
		return "", false
	}
	domain, err := dnsresolve.ALabels(addr[at+1:])
	if err != nil {
		return "", false
	}
	return addr[:at+1] + domain, true
}
