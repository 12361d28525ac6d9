package spamd

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// request is what the fake spamd read of one request.
type request struct {
	line    string            // "SYMBOLS SPAMC/1.5"
	headers map[string]string // by lower-case name
	body    []byte
}

// fakeSpamd is a spamd stand-in on loopback for the unit tests: it reads
// each request as spamd does (headers, then Content-length bytes) and
// hands it to answer, which writes the reply or misbehaves. The interop
// test runs the real spamd.
type fakeSpamd struct {
	addr string
	mu   sync.Mutex
	reqs []request
}

func startFake(t *testing.T, answer func(c net.Conn, r request)) *fakeSpamd {
	t.Helper()
	return startFakeOn(t, "tcp", "127.0.0.1:0", answer)
}

// startFakeOn is startFake listening on network and addr; addr is then
// the plugin's address setting ("unix:/path" for a unix socket).
func startFakeOn(t *testing.T, network, addr string, answer func(c net.Conn, r request)) *fakeSpamd {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSpamd{addr: ln.Addr().String()}
	if network == "unix" {
		f.addr = "unix:" + addr
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				// A hanging answer returns at the test's end.
				go func() { <-done; c.Close() }()
				r, ok := readRequest(c)
				if !ok {
					return
				}
				f.mu.Lock()
				f.reqs = append(f.reqs, r)
				f.mu.Unlock()
				answer(c, r)
			}()
		}
	}()
	return f
}

func readRequest(c net.Conn) (request, bool) {
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return request{}, false
	}
	r := request{line: strings.TrimRight(line, "\r\n"), headers: map[string]string{}}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return request{}, false
		}
		l = strings.TrimRight(l, "\r\n")
		if l == "" {
			break
		}
		k, v, _ := strings.Cut(l, ":")
		r.headers[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	n, err := strconv.Atoi(r.headers["content-length"])
	if err != nil {
		return request{}, false
	}
	r.body = make([]byte, n)
	if _, err := io.ReadFull(br, r.body); err != nil {
		return request{}, false
	}
	return r, true
}

func (f *fakeSpamd) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// symbolsReply answers as spamd 4 does to SYMBOLS.
func symbolsReply(spam bool, score, required, symbols string) func(net.Conn, request) {
	return func(c net.Conn, _ request) {
		flag := "False"
		if spam {
			flag = "True"
		}
		_, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: "+strconv.Itoa(len(symbols))+"\r\n"+
			"Spam: "+flag+" ; "+score+" / "+required+"\r\n\r\n"+symbols)
	}
}

// reportReply answers as spamd 4 does to REPORT: the Spam header and the
// report as the body.
func reportReply(spam bool, score, required, report string) func(net.Conn, request) {
	return func(c net.Conn, _ request) {
		flag := "False"
		if spam {
			flag = "True"
		}
		_, _ = io.WriteString(c, "SPAMD/1.1 0 EX_OK\r\nContent-length: "+strconv.Itoa(len(report))+"\r\n"+
			"Spam: "+flag+" ; "+score+" / "+required+"\r\n\r\n"+report)
	}
}
