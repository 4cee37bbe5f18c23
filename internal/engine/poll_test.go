package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

func TestPoll(t *testing.T) {
	ctx := context.Background()
	calls := 0
	got, err := Poll(ctx, time.Second, func() (int, error) {
		calls++
		if calls < 3 {
			return 0, ErrPending
		}
		return 7, nil
	})
	if got != 7 || err != nil || calls != 3 {
		t.Fatalf("got %d %v after %d calls", got, err, calls)
	}
	boom := errors.New("boom")
	calls = 0
	if _, err := Poll(ctx, time.Second, func() (int, error) { calls++; return 0, backoff.Permanent(boom) }); !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("permanent: %v after %d calls", err, calls)
	}
	start := time.Now()
	if _, err := Poll(ctx, 300*time.Millisecond, func() (int, error) { return 0, ErrPending }); !errors.Is(err, ErrPending) {
		t.Fatalf("within: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a 300 ms poll took %s", d)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Poll(cctx, time.Minute, func() (int, error) { return 0, ErrPending }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}
