package smtpd

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/sluice-mta/sluice/core/reply"
	"github.com/sluice-mta/sluice/internal/mailhdr"
)

// checkFromHeader holds the From field of a message user submitted to
// the rule its MAIL FROM was held to (auth.Senders.Allowed), when
// [auth] check_from_header is on: every address of every From field
// (RFC 5322 §3.6.2 allows one field, a mailbox-list; a group's members
// count too) must be one user may send as. hdr is the message's header
// section. A message without From is left to the other rules, and so is a
// From naming no address (an empty group). Sender is not looked at: the
// dkim stage signs with the From domain's key, and the From is what the
// reader sees. RFC 6409 §6.1 lets a submission server refuse such mail.
func (s *Server) checkFromHeader(user string, hdr []byte) *reply.Reply {
	st := s.auth.Load()
	if user == "" || !st.fromHeader {
		return nil
	}
	addrs, err := fromAddresses(hdr)
	if err != nil {
		return fromUnreadable.With("user " + user + ": From: " + err.Error())
	}
	for _, a := range addrs {
		if !st.senders.Allowed(user, a) {
			return fromNotOwned.With("user " + user + " may not send as From: <" + a + ">")
		}
	}
	return nil
}

// fromAddresses are the addresses of hdr's From fields, each in the
// wire form MAIL FROM's is compared in (mailbox.String: a local part that
// is not a dot-string quoted again).
func fromAddresses(hdr []byte) ([]string, error) {
	var out []string
	for rest := hdr; len(rest) > 0; {
		f, ok := mailhdr.Field(rest)
		if !ok {
			break
		}
		if bytes.EqualFold(rest[:f.Name], []byte("From")) {
			v := strings.TrimSpace(unfold.Replace(string(rest[f.Colon+1 : f.End])))
			if v == "" {
				rest = rest[f.End:]
				continue // names no one
			}
			list, err := fromParser.ParseList(v)
			if err != nil {
				return nil, errors.New(strings.TrimPrefix(err.Error(), "mail: "))
			}
			for _, a := range list {
				// net/mail's Address is the local part unquoted, "@", the
				// domain, which has no "@" of its own.
				at := strings.LastIndexByte(a.Address, '@')
				if at < 0 {
					return nil, errors.New("no @ in " + a.Address)
				}
				out = append(out, mailbox{Local: a.Address[:at], Domain: a.Address[at+1:]}.String())
			}
		}
		rest = rest[f.End:]
	}
	return out, nil
}

// unfold undoes RFC 5322 §2.2.3 folding: the line breaks go, the white
// space after them stays.
var unfold = strings.NewReplacer("\r\n", "", "\n", "", "\r", "")

// fromParser reads an address list whatever charset its display names'
// encoded words (RFC 2047) name: only the addresses matter here, and
// net/mail alone refuses a name in any charset but UTF-8, ISO-8859-1 and
// US-ASCII, which would refuse a Shift_JIS or windows-1252 sender.
var fromParser = mail.AddressParser{WordDecoder: &mime.WordDecoder{
	CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
}}
