package smtpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// proxyV2 is a v2 header as a proxy writes it (proxy-protocol.txt §2.2):
// cmd 0 LOCAL or 1 PROXY, fam the family and protocol byte, the
// addresses and ports in network order for 0x11 and 0x21, then extra
// (TLVs).
func proxyV2(cmd, fam byte, src, dst netip.AddrPort, extra []byte) []byte {
	var body []byte
	if fam == 0x11 || fam == 0x21 {
		body = append(body, src.Addr().AsSlice()...)
		body = append(body, dst.Addr().AsSlice()...)
		body = binary.BigEndian.AppendUint16(body, src.Port())
		body = binary.BigEndian.AppendUint16(body, dst.Port())
	}
	body = append(body, extra...)
	h := append(append([]byte(nil), proxyV2Sig...), 0x20|cmd, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(body)))
	return append(h, body...)
}

// crcTLV is a CRC32C TLV (proxy-protocol.txt §2.2.3; HAProxy's
// proxy-v2-options crc32c) before sealCRC fills in its value.
var crcTLV = []byte{0x03, 0x00, 0x04, 0, 0, 0, 0}

// sealCRC sets the CRC32C TLV value at h[at:at+4], zero until then, to
// the CRC32c of the whole header with those bytes zero, as a proxy does;
// corrupt flips one bit of it. at < 0 counts from the end.
func sealCRC(h []byte, at int, corrupt bool) []byte {
	h = append([]byte(nil), h...)
	if at < 0 {
		at += len(h)
	}
	sum := crc32.Checksum(h, crc32.MakeTable(crc32.Castagnoli))
	if corrupt {
		sum ^= 1
	}
	binary.BigEndian.PutUint32(h[at:], sum)
	return h
}

var (
	v4src = netip.MustParseAddrPort("198.51.100.7:40000")
	v4dst = netip.MustParseAddrPort("192.0.2.25:25")
	v6src = netip.MustParseAddrPort("[2001:db8::7]:40001")
	v6dst = netip.MustParseAddrPort("[2001:db8::25]:25")
	// A TLV of each kind HAProxy sends: ALPN, AUTHORITY, UNIQUE_ID.
	tlvs = []byte{0x01, 0x00, 0x04, 's', 'm', 't', 'p', 0x02, 0x00, 0x02, 'm', 'x', 0x05, 0x00, 0x01, 'u'}
)

func TestReadProxyHeader(t *testing.T) {
	mapped := func(ap netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	for _, tc := range []struct {
		name     string
		in       []byte
		src, dst netip.AddrPort // zero: the proxy's own connection
	}{
		{"v1 TCP4", []byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\r\n"), v4src, v4dst},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::7 2001:db8::25 40001 25\r\n"), v6src, v6dst},
		{"v1 TCP6 IPv4-mapped", []byte("PROXY TCP6 ::ffff:198.51.100.7 ::ffff:192.0.2.25 40000 25\r\n"), v4src, v4dst},
		{"v1 port 0", []byte("PROXY TCP4 198.51.100.7 192.0.2.25 0 25\r\n"), netip.AddrPortFrom(v4src.Addr(), 0), v4dst},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), netip.AddrPort{}, netip.AddrPort{}},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff:f::1 ffff:f::2 65535 65535\r\n"), netip.AddrPort{}, netip.AddrPort{}},
		{"v1 longest line, 107 bytes", []byte("PROXY UNKNOWN " + strings.Repeat("f", 91) + "\r\n"), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 TCP4", proxyV2(1, 0x11, v4src, v4dst, nil), v4src, v4dst},
		{"v2 TCP4 with TLVs", proxyV2(1, 0x11, v4src, v4dst, tlvs), v4src, v4dst},
		{"v2 TCP6", proxyV2(1, 0x21, v6src, v6dst, tlvs), v6src, v6dst},
		{"v2 TCP6 IPv4-mapped", proxyV2(1, 0x21, mapped(v4src), mapped(v4dst), nil), v4src, v4dst},
		{"v2 TCP4 with a CRC32C", sealCRC(proxyV2(1, 0x11, v4src, v4dst, crcTLV), -4, false), v4src, v4dst},
		{"v2 TCP6 with TLVs and a CRC32C", sealCRC(proxyV2(1, 0x21, v6src, v6dst, append(tlvs[:len(tlvs):len(tlvs)], crcTLV...)), -4, false), v6src, v6dst},
		{"v2 TCP4 with a CRC32C, then TLVs", sealCRC(proxyV2(1, 0x11, v4src, v4dst, append(crcTLV[:7:7], tlvs...)), 16+12+3, false), v4src, v4dst},
		// A bad CRC where the addresses are not used: not checked, as
		// HAProxy does not.
		{"v2 LOCAL with a bad CRC32C", sealCRC(proxyV2(0, 0x11, v4src, v4dst, crcTLV), -4, true), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 UDP4 with a bad CRC32C", sealCRC(proxyV2(1, 0x12, netip.AddrPort{}, netip.AddrPort{}, append(make([]byte, 12), crcTLV...)), -4, true), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 LOCAL", proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 LOCAL with an address block", proxyV2(0, 0x11, v4src, v4dst, tlvs), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 UNSPEC", proxyV2(1, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 UDP4", proxyV2(1, 0x12, netip.AddrPort{}, netip.AddrPort{}, make([]byte, 12)), netip.AddrPort{}, netip.AddrPort{}},
		{"v2 UNIX stream", proxyV2(1, 0x31, netip.AddrPort{}, netip.AddrPort{}, make([]byte, 216)), netip.AddrPort{}, netip.AddrPort{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What follows the header is the client's and stays unread.
			r := bytes.NewReader(append(append([]byte(nil), tc.in...), "EHLO x\r\n"...))
			h, err := readProxyHeader(r)
			if err != nil {
				t.Fatal(err)
			}
			if own := !tc.src.IsValid(); h.own != own || h.Source != tc.src || h.Dest != tc.dst {
				t.Errorf("got %+v, want source %v dest %v own %v", h, tc.src, tc.dst, own)
			}
			if rest, _ := io.ReadAll(r); string(rest) != "EHLO x\r\n" {
				t.Errorf("left %q unread, want the client's EHLO", rest)
			}
		})
	}
}

func TestReadProxyHeaderRefuses(t *testing.T) {
	v2 := func(verCmd, fam byte, body []byte) []byte {
		h := append(append([]byte(nil), proxyV2Sig...), verCmd, fam)
		return append(binary.BigEndian.AppendUint16(h, uint16(len(body))), body...)
	}
	badSig := proxyV2(1, 0x11, v4src, v4dst, nil)
	badSig[7] = 'X'
	// A header changed after its CRC was computed: the client's address.
	changed := sealCRC(proxyV2(1, 0x11, v4src, v4dst, crcTLV), -4, false)
	changed[16+3] ^= 1
	for _, tc := range []struct {
		name, reason string
		in           []byte
	}{
		{"SMTP command", proxyMalformed, []byte("EHLO client.test\r\n")},
		{"TLS ClientHello", proxyMalformed, []byte{0x16, 0x03, 0x01, 0x00, 0xa5}},
		{"lower case", proxyMalformed, []byte("proxy TCP4 198.51.100.7 192.0.2.25 40000 25\r\n")},
		{"PROXY without a space", proxyMalformed, []byte("PROXYTCP4\r\n")},
		{"unknown protocol", proxyMalformed, []byte("PROXY UDP4 198.51.100.7 192.0.2.25 40000 25\r\n")},
		{"TCP4 with an IPv6 address", proxyMalformed, []byte("PROXY TCP4 2001:db8::7 192.0.2.25 40000 25\r\n")},
		{"TCP6 with an IPv4 address", proxyMalformed, []byte("PROXY TCP6 198.51.100.7 2001:db8::25 40000 25\r\n")},
		{"octet with a heading zero", proxyMalformed, []byte("PROXY TCP4 198.51.100.07 192.0.2.25 40000 25\r\n")},
		{"port with a heading zero", proxyMalformed, []byte("PROXY TCP4 198.51.100.7 192.0.2.25 040000 25\r\n")},
		{"port out of range", proxyMalformed, []byte("PROXY TCP4 198.51.100.7 192.0.2.25 65536 25\r\n")},
		{"signed port", proxyMalformed, []byte("PROXY TCP4 198.51.100.7 192.0.2.25 +4000 25\r\n")},
		{"IPv6 zone", proxyMalformed, []byte("PROXY TCP6 fe80::7%eth0 2001:db8::25 40000 25\r\n")},
		{"two spaces", proxyMalformed, []byte("PROXY TCP4  198.51.100.7 192.0.2.25 40000 25\r\n")},
		{"missing port", proxyMalformed, []byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000\r\n")},
		{"bare LF", proxyMalformed, []byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\n")},
		{"bare CR", proxyMalformed, []byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\rX")},
		{"no CRLF in 107 bytes", proxyTooLong, []byte("PROXY UNKNOWN " + strings.Repeat("f", 92) + "\r\n")},
		{"v2 bad signature", proxyMalformed, badSig},
		{"v2 version 1", proxyMalformed, v2(0x11, 0x11, make([]byte, 12))},
		{"v2 command 2", proxyMalformed, v2(0x22, 0x11, make([]byte, 12))},
		{"v2 family 4", proxyMalformed, v2(0x21, 0x41, make([]byte, 12))},
		{"v2 protocol 3", proxyMalformed, v2(0x21, 0x13, make([]byte, 12))},
		{"v2 short IPv4 block", proxyMalformed, v2(0x21, 0x11, make([]byte, 11))},
		{"v2 short IPv6 block", proxyMalformed, v2(0x21, 0x21, make([]byte, 12))},
		{"v2 bad CRC32C", proxyChecksum, sealCRC(proxyV2(1, 0x11, v4src, v4dst, crcTLV), -4, true)},
		{"v2 IPv6 bad CRC32C after TLVs", proxyChecksum, sealCRC(proxyV2(1, 0x21, v6src, v6dst, append(tlvs[:len(tlvs):len(tlvs)], crcTLV...)), -4, true)},
		{"v2 changed after its CRC32C", proxyChecksum, changed},
		{"v2 CRC32C TLV of 3 bytes", proxyMalformed, proxyV2(1, 0x11, v4src, v4dst, []byte{0x03, 0x00, 0x03, 0, 0, 0})},
		{"v2 TLV past the header", proxyMalformed, proxyV2(1, 0x11, v4src, v4dst, []byte{0x01, 0x00, 0x05, 's', 'm', 't', 'p'})},
		{"v2 2 bytes after the TLVs", proxyMalformed, proxyV2(1, 0x11, v4src, v4dst, append(tlvs[:len(tlvs):len(tlvs)], 0x04, 0x00))},
		{"v1 cut short", proxyClosed, []byte("PROXY TCP4 198.51.100.7")},
		{"v2 cut short", proxyClosed, proxyV2(1, 0x11, v4src, v4dst, nil)[:20]},
		{"v2 length past the end", proxyClosed, v2(0x21, 0x11, make([]byte, 12))[:27]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readProxyHeader(bytes.NewReader(tc.in))
			var pe *proxyError
			if !errors.As(err, &pe) || pe.reason != tc.reason || pe.quiet {
				t.Fatalf("got %#v, want reason %s", err, tc.reason)
			}
		})
	}
	// A proxy closing before a byte is a TCP health check.
	_, err := readProxyHeader(bytes.NewReader(nil))
	var pe *proxyError
	if !errors.As(err, &pe) || !pe.quiet {
		t.Errorf("nothing at all: got %#v, want a quiet refusal", err)
	}
}

// Whatever a proxy sends, the reader neither panics nor reads past what
// it takes as the header, and what it accepts names valid addresses.
func FuzzReadProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 198.51.100.7 192.0.2.25 40000 25\r\nEHLO x\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::25 40001 25\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(proxyV2(1, 0x11, v4src, v4dst, tlvs))
	f.Add(proxyV2(1, 0x21, v6src, v6dst, nil))
	f.Add(proxyV2(0, 0x00, netip.AddrPort{}, netip.AddrPort{}, nil))
	f.Add(sealCRC(proxyV2(1, 0x11, v4src, v4dst, append(crcTLV[:7:7], tlvs...)), 16+12+3, false))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := readProxyHeader(r)
		if err != nil {
			return
		}
		used := len(in) - r.Len()
		if in[0] == 'P' && (used > proxyV1Max || !bytes.HasSuffix(in[:used], []byte("\r\n"))) {
			t.Fatalf("v1 header of %d bytes %q", used, in[:used])
		}
		if !h.own && (!h.Source.IsValid() || !h.Dest.IsValid() || h.Source.Addr().Is4In6()) {
			t.Fatalf("accepted %+v", h)
		}
	})
}
