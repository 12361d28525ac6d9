package testlib

import (
	"io/fs"
	"os"
	"testing"
	"time"
)

func TestProcessCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	start, err := ProcessCPU(0)
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the count moves on: it is in ticks of 10 ms.
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := ProcessCPU(os.Getpid()) // the same process, by number
		if err != nil {
			t.Fatal(err)
		}
		if d > start {
			break
		}
		if d < start || time.Now().After(deadline) {
			t.Fatalf("CPU time %v after %v of spinning, from %v", d, time.Since(deadline.Add(-10*time.Second)), start)
		}
	}
	if _, err := ProcessCPU(1 << 30); !isPathError(err) {
		t.Errorf("a process that is not there: %v, want the read's error", err)
	}
}

func isPathError(err error) bool {
	_, ok := err.(*fs.PathError)
	return ok
}
