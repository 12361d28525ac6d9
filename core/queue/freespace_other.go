//go:build !darwin && !dragonfly && !freebsd && !linux && !netbsd && !openbsd

package queue

import (
	"errors"
	"fmt"
	"runtime"
)

// availBytes is not known here: the free space is "unknown", which lets
// the queue open and mail flow without the queue_minfree check.
func availBytes(string) (int64, error) {
	return 0, fmt.Errorf("free space on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
