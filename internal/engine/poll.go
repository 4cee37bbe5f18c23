package engine

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// ErrPending is what a Poll operation answers while what it waits for has
// not happened yet.
var ErrPending = errors.New("not yet")

// Poll calls op until it returns no error, returns an error wrapped in
// backoff.Permanent, ctx ends (its cause is returned) or within has passed
// (op's last error is returned). It waits 20 ms after the first call and
// doubles the wait up to 500 ms: the one wait-and-retry loop of the engine
// and the API, on github.com/cenkalti/backoff/v5.
func Poll[T any](ctx context.Context, within time.Duration, op func() (T, error)) (T, error) {
	b := &backoff.ExponentialBackOff{InitialInterval: 20 * time.Millisecond, Multiplier: 2,
		MaxInterval: 500 * time.Millisecond}
	return backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(within))
}
