package executor

import (
	"context"
	"time"

	"github.com/baton-sched/baton/internal/status"
)

func runHTTP(ctx context.Context, req Request, lw *logWriter, timeout time.Duration) Result {
	return notProcess(status.InstanceFailed, "http tasks are not supported yet")
}
