package activities

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// WorkerLiveness is how recently a worker must have heartbeated to count
// as alive for broadcast dispatch.
const WorkerLiveness = 30 * time.Second

// Mirror writes run state to the relational mirror.
type Mirror struct {
	Store   *models.Store
	Metrics *metrics.Metrics
	// Behind queues the batches the workflow does not wait for; nil
	// writes every batch before answering.
	Behind *WriteBehind
	// Logger is for what a queued write finds after its activity answered
	// (default slog.Default()).
	Logger *slog.Logger
}

func (m *Mirror) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.Default()
}

// NewMirror returns the flows worker's mirror activities with the
// write-behind queue started; Close the queue (m.Behind.Close) when the
// worker stops. A Mirror without Behind writes every batch before
// answering, as before run version 9.
func NewMirror(store *models.Store, m *metrics.Metrics, logger *slog.Logger) *Mirror {
	mirror := &Mirror{Store: store, Metrics: m, Logger: logger}
	mirror.Behind = NewWriteBehind(store, WriteBehindOptions{Logger: logger, Written: mirror.written})
	return mirror
}

// Record applies one workflow task's batch of state changes: queued when
// the batch allows it (and the queue has room), else written, after the
// run's queued writes, before it answers.
func (m *Mirror) Record(ctx context.Context, b workflows.MirrorBatch) error {
	start := time.Now()
	mb := toModelBatch(b)
	if m.Behind != nil {
		if b.WriteBehind {
			stampDispatch(&mb, start)
			if err := m.Behind.Enqueue(mb); err == nil {
				return nil
			}
		}
		if err := m.Behind.WriteNow(ctx, mb); err != nil {
			return fmt.Errorf("record mirror batch of run %s: %w", b.RunID, err)
		}
		return nil
	}
	if err := m.Store.ApplyMirror(ctx, mb); err != nil {
		return fmt.Errorf("record mirror batch of run %s: %w", b.RunID, err)
	}
	m.written(ctx, mb, start)
	return nil
}

func (m *Mirror) written(ctx context.Context, b models.MirrorBatch, began time.Time) {
	if m.Metrics != nil {
		m.observe(ctx, b, began)
	}
}

// observe records a committed batch's size, write time and lag, and the
// run starting or finishing if the batch says so.
func (m *Mirror) observe(ctx context.Context, b models.MirrorBatch, start time.Time) {
	done := time.Now()
	rows := len(b.Nodes) + len(b.Instances) + len(b.Transitions)
	if b.Run != nil {
		rows++
	}
	lags := make([]time.Duration, len(b.Transitions))
	var started bool
	var finished []string
	for i, t := range b.Transitions {
		lags[i] = done.Sub(t.At)
		if t.Entity != "run" {
			continue
		}
		if t.FromStatus == "" {
			started = true
		}
		if status.Run(t.ToStatus).Terminal() {
			finished = append(finished, t.ToStatus)
		}
	}
	m.Metrics.MirrorWrite(rows, done.Sub(start), lags)
	if !started && len(finished) == 0 {
		return
	}
	// The batch carries the run's state, not its identity: one read, only
	// when a run starts or ends.
	run, err := m.Store.GetRun(ctx, b.RunID)
	if err != nil {
		m.log().Warn("metrics: read run", "run", b.RunID, "error", err)
		return
	}
	if started {
		m.Metrics.RunStarted(run.Kind, run.Trigger)
	}
	for _, st := range finished {
		m.Metrics.RunFinished(run.Kind, run.Trigger, st)
	}
}

// LiveWorkers lists the ids of the group's workers that heartbeated lately.
func (m *Mirror) LiveWorkers(ctx context.Context, group string) ([]string, error) {
	ws, err := m.Store.LiveWorkers(ctx, group, time.Now().Add(-WorkerLiveness))
	if err != nil {
		return nil, fmt.Errorf("live workers of %s: %w", group, err)
	}
	ids := make([]string, 0, len(ws))
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	return ids, nil
}

func toModelBatch(b workflows.MirrorBatch) models.MirrorBatch {
	out := models.MirrorBatch{RunID: b.RunID}
	if r := b.Run; r != nil {
		out.Run = &models.RunUpdate{Status: r.Status, Rev: r.Rev, TemporalRunID: r.TemporalRunID,
			StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Message: r.Message}
	}
	for _, n := range b.Nodes {
		out.Nodes = append(out.Nodes, models.NodeUpdate{NodeID: n.NodeID, Status: n.Status, Forced: n.Forced,
			Attempts: n.Attempts, Rev: n.Rev, Outputs: n.Outputs, Message: n.Message,
			StartedAt: n.StartedAt, FinishedAt: n.FinishedAt})
	}
	for _, i := range b.Instances {
		out.Instances = append(out.Instances, models.InstanceUpdate{ID: i.ID, NodeID: i.NodeID,
			ShardIndex: i.ShardIndex, Attempt: i.Attempt, WorkerID: i.WorkerID, Status: i.Status,
			ExitCode: i.ExitCode, Message: i.Message, Rev: i.Rev, StartedAt: i.StartedAt, FinishedAt: i.FinishedAt})
	}
	for _, t := range b.Transitions {
		out.Transitions = append(out.Transitions, models.Transition{RunID: b.RunID, Entity: t.Entity,
			EntityID: t.EntityID, FromStatus: t.From, ToStatus: t.To, Actor: t.Actor, Reason: t.Reason, RequestID: t.RequestID, At: t.At})
	}
	if b.Reset != nil {
		out.Reset = &models.ResetWrite{Live: b.Reset.Live}
	}
	return out
}
