package smtpd

import (
	"encoding/binary"
	"hash/crc32"
	"strconv"
)

// pp2TypeCRC32C is the TLV holding a CRC32c of the whole v2 header
// (proxy-protocol.txt §2.2.3; HAProxy's proxy-v2-options crc32c).
const pp2TypeCRC32C = 0x03

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checkProxyTLVs walks the TLVs of a v2 header that follow its address
// block at body[off:] (§2.2: type, a 2-byte length, the value) and
// verifies each CRC32C TLV. fixed is the header's first 16 bytes. Other
// TLVs are skipped, as §2.2 lets a receiver; one running past the header
// is refused, as HAProxy refuses it: the length that says where the
// header ends, or the TLV, is wrong.
func checkProxyTLVs(fixed []byte, body []byte, off int) error {
	for off < len(body) {
		if len(body)-off < 3 {
			return malformed("PROXY v2 header with " + strconv.Itoa(len(body)-off) + " bytes after its last TLV, too few for another")
		}
		typ, n := body[off], int(binary.BigEndian.Uint16(body[off+1:]))
		val := off + 3
		if n > len(body)-val {
			return malformed("PROXY v2 TLV of type 0x" + strconv.FormatUint(uint64(typ), 16) + " and length " + strconv.Itoa(n) + " runs past the header")
		}
		if typ == pp2TypeCRC32C {
			if err := checkProxyCRC(fixed, body, val, n); err != nil {
				return err
			}
		}
		off = val + n
	}
	return nil
}

// checkProxyCRC verifies the CRC32C TLV whose value is body[val:val+n]:
// §2.2.3 has the receiver compute the CRC32c (RFC 4960 Appendix B) of the
// whole header with that value's 4 bytes zeroed, and "treat the TCP
// connection providing the header as invalid" on a mismatch.
func checkProxyCRC(fixed, body []byte, val, n int) error {
	if n != 4 {
		return malformed("PROXY v2 CRC32C TLV of " + strconv.Itoa(n) + " bytes, want 4")
	}
	sent := binary.BigEndian.Uint32(body[val:])
	crc := crc32.Update(crc32.Checksum(fixed, castagnoli), castagnoli, body[:val])
	crc = crc32.Update(crc, castagnoli, []byte{0, 0, 0, 0})
	crc = crc32.Update(crc, castagnoli, body[val+4:])
	if crc != sent {
		return &proxyError{reason: proxyChecksum, detail: "PROXY v2 header fails its CRC32C: 0x" + strconv.FormatUint(uint64(sent), 16) + " sent, 0x" + strconv.FormatUint(uint64(crc), 16) + " computed"}
	}
	return nil
}
