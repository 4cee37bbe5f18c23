package activities

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/baton-sched/baton/internal/executor"
	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// Tasks executes task instances on this worker.
type Tasks struct {
	// Store receives instance state and logs; nil runs without a mirror.
	Store    *models.Store
	WorkerID string
	Host     string
	// WorkRoot is where per-instance working directories are made.
	WorkRoot string
	// Isolation is who shell tasks run as and how their processes are tracked.
	Isolation executor.Isolation
	// HTTPAllow lifts the SSRF guard for these CIDRs or hosts.
	HTTPAllow []string
	// Running counts instances in progress, for the worker's heartbeat.
	Running atomic.Int64
	// Group labels the instance durations this worker observes.
	Group   string
	Metrics *metrics.Metrics
}

// runningMarkTimeout bounds the "running" mark of an instance; it must stay
// well below workflows.HeartbeatTimeout.
const runningMarkTimeout = 5 * time.Second

// Execute runs one instance. A task that fails is reported in the result;
// an error return means Baton itself could not run it.
func (a *Tasks) Execute(ctx context.Context, req workflows.TaskRequest) (workflows.TaskResult, error) {
	a.Running.Add(1)
	defer a.Running.Add(-1)
	start := time.Now()
	started := start.UTC()
	logger := activity.GetLogger(ctx)
	mirror := req.Mirror && a.Store != nil
	instRev := req.InstanceRev
	if instRev == 0 {
		instRev = req.NodeRev // dispatched by an interpreter that did not send it
	}
	if mirror {
		// A first heartbeat before the mark, and the mark bounded well inside
		// the heartbeat timeout, so a slow database cannot make Temporal take
		// this worker for lost and run the instance again (the fault suite
		// saw that under load).
		activity.RecordHeartbeat(ctx)
		now := started
		// The instance's waiting write may still be queued (write-behind):
		// if this mark lands first, its dispatch time must be the
		// scheduling's, not now.
		var dispatched *time.Time
		if activity.IsActivity(ctx) {
			if at := activity.GetInfo(ctx).ScheduledTime; !at.IsZero() {
				dispatched = &at
			}
		}
		mark := models.MirrorBatch{
			RunID: req.RunID,
			Nodes: []models.NodeUpdate{{NodeID: req.NodeID, Status: string(status.NodeRunning), Attempts: req.Attempt, Rev: req.NodeRev}},
			Instances: []models.InstanceUpdate{{ID: req.InstanceID, NodeID: req.NodeID, ShardIndex: req.ShardIndex,
				Attempt: req.Attempt, WorkerID: a.WorkerID, Host: a.Host, Status: string(status.InstanceRunning), Rev: instRev, StartedAt: &now, DispatchedAt: dispatched}},
			// The workflow never sees an instance start (it only hears the
			// result), so the log learns of it here; event streams show it.
			Transitions: []models.Transition{{Entity: "instance", EntityID: req.InstanceID,
				FromStatus: string(status.InstanceWaiting), ToStatus: string(status.InstanceRunning),
				Reason: "started on worker " + a.WorkerID, At: now}},
		}
		// The mark is written while the process runs, not before it starts
		// (an instance of `true` took as long as the write), and awaited
		// before the activity answers.
		marked := make(chan struct{})
		defer func() { <-marked }()
		go func() {
			defer close(marked)
			mctx, cancel := context.WithTimeout(ctx, runningMarkTimeout)
			defer cancel()
			if err := a.Store.ApplyMirror(mctx, mark); err != nil {
				// The run must not fail because the console's copy lags; the
				// workflow writes the final state again.
				logger.Warn("mirror: could not mark instance running", "instance", req.InstanceID, "error", err)
			}
		}()
	}
	logw := io.Discard
	var chunks *executor.ChunkWriter
	if mirror {
		chunks = executor.NewChunkWriter(func(seq int, offset int64, data []byte) error {
			// A fresh context: the final chunk must land even after a stop
			// cancelled the activity's context.
			wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return a.Store.AppendLog(wctx, req.InstanceID, seq, offset, data)
		}, executor.ChunkOptions{})
		logw = chunks
	}
	execCtx, heartbeat, done := outlastOutage(ctx, logger)
	defer done()
	res := executor.Execute(execCtx, executor.Request{
		Task: req.Task, RunID: req.RunID, NodeID: req.NodeID, InstanceID: req.InstanceID, Bizdate: req.Bizdate,
		Attempt: req.Attempt, ShardIndex: req.ShardIndex, ShardTotal: req.ShardTotal, ShardParam: req.ShardParam,
		Params: req.Params, WorkRoot: a.WorkRoot, Isolation: a.Isolation, Log: logw, HTTPAllow: a.HTTPAllow,
		Heartbeat: heartbeat,
	})
	if chunks != nil {
		if err := chunks.Close(); err != nil {
			logger.Warn("log store: some output could not be stored", "instance", req.InstanceID, "error", err)
		}
	}
	a.Metrics.InstanceDone(a.Group, req.Task.Kind, string(res.Status), time.Since(start))
	return workflows.TaskResult{Status: string(res.Status), ExitCode: res.ExitCode, Outputs: res.Outputs,
		Message: res.Message, WorkerID: a.WorkerID, StartedAt: &started}, nil
}

// outlastOutage gives the executor a context that ends when the instance
// must stop: the workflow asked (a stop), Temporal no longer knows the
// attempt (it timed it out), or the worker shuts down. The SDK also
// cancels an activity whose heartbeats could not reach Temporal for a
// while, a restart of the server for instance; stopping the task then
// reported it "stopped" to a server that was back and still waiting for
// it, and the node failed (fault case 4, Temporal restarted during a
// fan-out). Instead the task goes on, heartbeating through the client,
// and its completion decides: accepted if the attempt is still current,
// refused if Temporal has run it again elsewhere meanwhile.
func outlastOutage(ctx context.Context, logger log.Logger) (context.Context, func(), func()) {
	execCtx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	var detached atomic.Bool
	token := activity.GetInfo(ctx).TaskToken
	c := activity.GetClient(ctx)
	heartbeat := func() {
		if !detached.Load() {
			activity.RecordHeartbeat(ctx)
			return
		}
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.RecordActivityHeartbeat(hctx, token); mustStop(err) {
			stop(err)
		}
	}
	finished := make(chan struct{})
	go func() {
		select {
		case <-finished:
			return
		case <-ctx.Done():
		}
		cause := context.Cause(ctx)
		if mustStop(cause) || errors.Is(cause, context.Canceled) {
			stop(cause)
			return
		}
		detached.Store(true)
		logger.Warn("heartbeats could not reach Temporal; the task goes on and its completion decides", "cause", cause)
	}()
	return execCtx, heartbeat, func() { close(finished); stop(nil) }
}

// mustStop reports the answers that end an attempt: the workflow cancelled
// it, or Temporal no longer has it.
func mustStop(err error) bool {
	var canceled *temporal.CanceledError
	var notFound *serviceerror.NotFound
	return errors.As(err, &canceled) || errors.As(err, &notFound)
}
