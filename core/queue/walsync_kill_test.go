package queue

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// killChildEnv makes this test binary enqueue into the queue it names,
// from four goroutines, messages of every size up to 64 KiB, printing
// "<id> <size>" once each is acknowledged, until it is killed
// (TestKilledWhileEnqueuingOpens's other process).
const killChildEnv = "SLUICE_QUEUE_TEST_ENQUEUE"

func enqueueUntilKilled(dir string) {
	s, err := Open(dir, Options{})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for w := range 4 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(w)))
			for {
				m := newMsg(s, "b@example.net")
				size := 1 + rng.IntN(64<<10)
				if err := s.Enqueue(m, killBody(m.ID, size)); err != nil {
					fmt.Println("enqueue:", err)
					os.Exit(1)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d\n", m.ID, size)
				_ = out.Flush()
				mu.Unlock()
			}
		}()
	}
	select {}
}

// killBody is the body of message id, size bytes long.
func killBody(id string, size int) []byte {
	return bytes.Repeat([]byte(id), size/len(id)+1)[:size]
}

// kill -9 while synced enqueues of every size go on, on the real file
// system (its preallocation, WAL files recycled from one start to the
// next), never makes the queue look damaged at the next start, and loses
// no acknowledged message: the synced offsets written into the WAL claim
// no more than fsync covered.
func TestKilledWhileEnqueuingOpens(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 8))
	for round := range 5 {
		cmd := exec.Command(os.Args[0], "-test.run", "^$")
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := map[string]int{}
		lines := bufio.NewScanner(stdout)
		for n := 50 + rng.IntN(250); len(acked) < n; {
			if !lines.Scan() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: the child stopped after %d messages: %v", round, len(acked), lines.Err())
			}
			id, size, ok := strings.Cut(lines.Text(), " ")
			n, err := strconv.Atoi(size)
			if !ok || err != nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				t.Fatalf("round %d: child: %s", round, lines.Text())
			}
			acked[id] = n
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatalf("round %d: a kill -9 taken for damage: %v", round, err)
		}
		for id, size := range acked {
			got, err := s.Body(id)
			if err != nil || !bytes.Equal(got, killBody(id, size)) {
				t.Fatalf("round %d: acknowledged %s: %d of %d bytes, %v", round, id, len(got), size, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
