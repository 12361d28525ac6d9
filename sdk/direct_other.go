//go:build !unix

package sdk

import (
	"errors"
	"os/exec"
)

// newDirectPair: without unix socket pairs, calls go over gRPC.
func newDirectPair(*exec.Cmd) (*directPair, error) {
	return nil, errors.New("direct channel: not supported on this system")
}
