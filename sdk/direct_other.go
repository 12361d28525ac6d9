//go:build !unix

package sdk

import (
	"errors"
	"net"
	"os/exec"
)

// newDirectPair: without unix socket pairs, calls go over gRPC.
func newDirectPair(*exec.Cmd) (*directPair, error) {
	return nil, errors.New("direct channel: not supported on this system")
}

func passConn(*net.UnixConn) (net.Conn, error) {
	return nil, errors.New("direct channel: not supported on this system")
}

func passPipes(*net.UnixConn) (streamConn, error) {
	return nil, errors.New("direct channel: not supported on this system")
}

func acceptConns(*net.UnixConn, func(streamConn)) error {
	return errors.New("direct channel: not supported on this system")
}
