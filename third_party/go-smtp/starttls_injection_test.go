package smtp

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
)

// A reply a server (or anyone on the path) appends in the clear after its
// 220 to STARTTLS is dropped, not read as the first reply under TLS: the
// response injection of CVE-2021-38371 (Exim's client). The client reads
// the EHLO reply the server sends under TLS.
func TestClientStartTLSDropsPlaintextAfter220(t *testing.T) {
	keypair, err := tls.X509KeyPair(localhostCert, localhostKey)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{keypair}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		expect := func(r *bufio.Reader, verb string) error {
			l, err := r.ReadString('\n')
			if err == nil && !strings.HasPrefix(l, verb) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		io.WriteString(c, "220 mx.test ESMTP\r\n")
		if err := expect(r, "EHLO"); err != nil {
			done <- err
			return
		}
		io.WriteString(c, "250-mx.test\r\n250 STARTTLS\r\n")
		if err := expect(r, "STARTTLS"); err != nil {
			done <- err
			return
		}
		// One write: the 220 and what was injected after it.
		io.WriteString(c, "220 2.0.0 Ready\r\n250-mx.test\r\n250 AUTH PLAIN\r\n")
		tc := tls.Server(c, serverTLS)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		tr := bufio.NewReader(tc)
		if err := expect(tr, "EHLO"); err != nil {
			done <- err
			return
		}
		io.WriteString(tc, "250-mx.test\r\n250 SIZE 1000\r\n")
		done <- expect(tr, "QUIT")
		io.WriteString(tc, "221 2.0.0 Bye\r\n")
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClientStartTLS(conn, &tls.Config{ServerName: "example.com"}) // testHookStartTLS trusts localhostCert
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("the injected AUTH was taken for the EHLO reply under TLS")
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "1000" {
		t.Errorf("SIZE %v %q, want the EHLO reply sent under TLS", ok, size)
	}
	c.Quit()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
