// Package udptcp binds a UDP and a TCP socket on one port, as a DNS server
// on loopback needs (the test servers and make bench's dnsstub).
package udptcp

import (
	"errors"
	"net"
	"net/netip"
)

// Listen binds UDP and TCP on ap's address and port. With port 0 the TCP
// twin of a free UDP port may be taken by another process, so it tries a
// few ports.
func Listen(ap netip.AddrPort) (net.PacketConn, net.Listener, error) {
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		pc, err := net.ListenPacket("udp", ap.String())
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		last = err
		if ap.Port() != 0 {
			break
		}
	}
	return nil, nil, errors.Join(errors.New("no port free for both UDP and TCP"), last)
}
