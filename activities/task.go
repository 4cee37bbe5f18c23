package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
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
	// Heartbeats, when set, sends the instances' heartbeats (see beat);
	// nil uses the SDK's activity.RecordHeartbeat.
	Heartbeats client.Client
}

// heartbeatGrace is how long a heartbeat RPC may take before the beat is
// counted as missed (the next beat tries again).
const heartbeatGrace = 5 * time.Second

// beat returns the instance's heartbeat and the context its task runs in.
//
// The SDK's activity.RecordHeartbeat cancels the activity's context when
// one heartbeat RPC fails or takes longer than max(throttle interval, 1 s)
// (the worker sets a 1 s throttle so that stops arrive fast). Under load
// that stopped healthy tasks: the task was killed and reported "stopped"
// without anyone asking, and its run failed (seen with make bench-load on
// a busy machine). Heartbeats go through the client instead: the task is
// stopped only when Temporal says so (a stop, i.e. cancel requested; the
// attempt unknown to it, e.g. timed out; paused or reset), or when no
// heartbeat has been accepted for the whole heartbeat timeout, after which
// Temporal has given the attempt up and the run runs it again elsewhere.
func (a *Tasks) beat(ctx context.Context) (func(), context.Context, context.CancelCauseFunc) {
	tctx, stop := context.WithCancelCause(ctx)
	if a.Heartbeats == nil {
		return func() { activity.RecordHeartbeat(ctx) }, tctx, stop
	}
	token := activity.GetInfo(ctx).TaskToken
	logger := activity.GetLogger(ctx)
	var mu sync.Mutex
	last := time.Now()
	return func() {
		rctx, cancel := context.WithTimeout(tctx, heartbeatGrace)
		err := a.Heartbeats.RecordActivityHeartbeat(rctx, token)
		cancel()
		mu.Lock()
		defer mu.Unlock()
		var canceled *temporal.CanceledError
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			last = time.Now()
		case errors.As(err, &canceled), errors.As(err, &notFound),
			errors.Is(err, activity.ErrActivityPaused), errors.Is(err, activity.ErrActivityReset):
			stop(err)
		case tctx.Err() != nil:
		case time.Since(last) > workflows.HeartbeatTimeout:
			stop(fmt.Errorf("no heartbeat accepted for %s: %w", time.Since(last).Round(time.Second), err))
		default:
			logger.Warn("heartbeat not recorded; trying again at the next beat", "error", err)
		}
	}, tctx, stop
}

// Execute runs one instance. A task that fails is reported in the result;
// an error return means Baton itself could not run it.
func (a *Tasks) Execute(ctx context.Context, req workflows.TaskRequest) (workflows.TaskResult, error) {
	a.Running.Add(1)
	defer a.Running.Add(-1)
	start := time.Now()
	logger := activity.GetLogger(ctx)
	mirror := req.Mirror && a.Store != nil
	instRev := req.InstanceRev
	if instRev == 0 {
		instRev = req.NodeRev // dispatched by an interpreter that did not send it
	}
	if mirror {
		now := time.Now().UTC()
		err := a.Store.ApplyMirror(ctx, models.MirrorBatch{
			RunID: req.RunID,
			Nodes: []models.NodeUpdate{{NodeID: req.NodeID, Status: string(status.NodeRunning), Attempts: req.Attempt, Rev: req.NodeRev}},
			Instances: []models.InstanceUpdate{{ID: req.InstanceID, NodeID: req.NodeID, ShardIndex: req.ShardIndex,
				Attempt: req.Attempt, WorkerID: a.WorkerID, Host: a.Host, Status: string(status.InstanceRunning), Rev: instRev, StartedAt: &now}},
			// The workflow never sees an instance start (it only hears the
			// result), so the log learns of it here; event streams show it.
			Transitions: []models.Transition{{Entity: "instance", EntityID: req.InstanceID,
				FromStatus: string(status.InstanceWaiting), ToStatus: string(status.InstanceRunning),
				Reason: "started on worker " + a.WorkerID, At: now}},
		})
		if err != nil {
			// The run must not fail because the console's copy lags; the
			// workflow writes the final state again.
			logger.Warn("mirror: could not mark instance running", "instance", req.InstanceID, "error", err)
		}
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
	heartbeat, tctx, stopTask := a.beat(ctx)
	defer stopTask(nil)
	res := executor.Execute(tctx, executor.Request{
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
		Message: res.Message, WorkerID: a.WorkerID}, nil
}
