package sdk_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/sdk"
)

// WithCallTimeout behaves as context.WithTimeout, whether or not anything
// waits on Done.
func TestWithCallTimeout(t *testing.T) {
	t.Run("deadline without a timer", func(t *testing.T) {
		ctx, cancel := sdk.WithCallTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		if _, ok := ctx.Deadline(); !ok {
			t.Fatal("no deadline")
		}
		for ctx.Err() == nil { // the clock's next tick
		}
		if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err = %v, want DeadlineExceeded", err)
		}
		<-ctx.Done() // the timer started now has fired already
		if err := context.Cause(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Cause = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("deadline with a timer", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		defer stop()
		// Err before the deadline, without a timer and once a child
		// started one: a deadline an hour away, as a loaded machine can
		// take longer than a short one to get from WithCallTimeout to Err.
		far, cancelFar := sdk.WithCallTimeout(parent, time.Hour)
		defer cancelFar()
		if err := far.Err(); err != nil {
			t.Fatalf("Err before the deadline, without a timer = %v", err)
		}
		farChild, cancelFarChild := context.WithCancel(far)
		defer cancelFarChild()
		if err := far.Err(); err != nil {
			t.Fatalf("Err before the deadline = %v", err)
		}
		if err := farChild.Err(); err != nil {
			t.Fatalf("the child's Err before the deadline = %v", err)
		}
		ctx, cancel := sdk.WithCallTimeout(parent, 20*time.Millisecond)
		defer cancel()
		child, cancelChild := context.WithCancel(ctx)
		defer cancelChild()
		select {
		case <-child.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("a child of the context did not end at its deadline")
		}
		if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Err = %v, want DeadlineExceeded", err)
		}
	})
	t.Run("the parent's deadline", func(t *testing.T) {
		parent, stop := context.WithTimeout(context.Background(), time.Minute)
		defer stop()
		ctx, cancel := sdk.WithCallTimeout(parent, time.Hour)
		defer cancel()
		want, _ := parent.Deadline()
		if got, _ := ctx.Deadline(); !got.Equal(want) {
			t.Errorf("Deadline %v, want the parent's %v", got, want)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := sdk.WithCallTimeout(context.Background(), time.Hour)
		cancel()
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err = %v, want Canceled", err)
		}
		<-ctx.Done()
		ctx, cancel = sdk.WithCallTimeout(context.Background(), time.Hour)
		done := ctx.Done()
		cancel()
		<-done
	})
	t.Run("the parent's end", func(t *testing.T) {
		parent, stop := context.WithCancel(context.Background())
		ctx, cancel := sdk.WithCallTimeout(parent, time.Hour)
		defer cancel()
		stop()
		if err := ctx.Err(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Err = %v, want Canceled", err)
		}
		<-ctx.Done()
	})
	t.Run("values", func(t *testing.T) {
		type key struct{}
		ctx, cancel := sdk.WithCallTimeout(context.WithValue(context.Background(), key{}, "v"), time.Hour)
		defer cancel()
		if got := ctx.Value(key{}); got != "v" {
			t.Errorf("Value = %v, want the parent's", got)
		}
	})
}
