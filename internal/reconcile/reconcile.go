package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// Options configures a Reconciler; zero values take the defaults.
type Options struct {
	// Interval is the time between passes (default 1m).
	Interval time.Duration
	// Batch is how many runs one pass looks at at most (default 200); the
	// next pass continues after the last one, so every run comes round.
	Batch int
	// Budget bounds one pass's time (default half the interval).
	Budget time.Duration
	// StartGrace is how long a run may stay without a workflow before it
	// is marked failed (default 2m): the API may still be starting it.
	StartGrace time.Duration
	// OperableWindow is how long ended, unsuccessful runs keep being
	// compared: their workflow stays open for operations that long
	// (default 7 days).
	OperableWindow time.Duration
	Logger         *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Metrics receives each pass's counts (baton_reconcile_*); nil
	// records nothing. Stats() answers the same counts in process.
	Metrics *metrics.Metrics
}

// Reconciler repairs the mirror from Temporal, a bounded batch per pass.
type Reconciler struct {
	store *models.Store
	obs   Observer
	o     Options

	pass   sync.Mutex // held for a whole pass
	mu     sync.Mutex
	cursor string // id of the last run looked at; "" starts over
	stats  Stats
}

// Stats counts the reconciler's work since it started, for metrics.
type Stats struct {
	Passes int64
	// Checked runs, Repaired runs (a write was needed), runs MarkedFailed
	// because their workflow never started, runs skipped as Behind (the
	// workflow wrote after answering), and Errors (a run that could not be
	// observed or written).
	Checked, Repaired, MarkedFailed, Behind, Errors int64
	// Last is the latest pass alone.
	Last PassStats
}

// PassStats is one pass's work.
type PassStats struct {
	Checked, Repaired, MarkedFailed, Behind, Errors int
	Took                                            time.Duration
	// Complete is false when the pass stopped at its time budget or batch
	// size; the next one goes on from there.
	Complete bool
}

// New returns a reconciler over store and Temporal.
func New(store *models.Store, obs Observer, o Options) *Reconciler {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Batch <= 0 {
		o.Batch = 200
	}
	if o.Budget <= 0 {
		o.Budget = o.Interval / 2
	}
	if o.StartGrace <= 0 {
		o.StartGrace = 2 * time.Minute
	}
	if o.OperableWindow <= 0 {
		o.OperableWindow = 7 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reconciler{store: store, obs: obs, o: o}
}

// Stats returns the counts so far.
func (r *Reconciler) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Run passes at once and then every interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		st := r.Pass(ctx)
		if ctx.Err() != nil {
			return
		}
		lvl := slog.LevelDebug
		if st.Repaired > 0 || st.MarkedFailed > 0 || st.Errors > 0 {
			lvl = slog.LevelInfo
		}
		r.o.Logger.Log(ctx, lvl, "mirror reconcile pass", "checked", st.Checked, "repaired", st.Repaired,
			"marked_failed", st.MarkedFailed, "behind", st.Behind, "errors", st.Errors,
			"complete", st.Complete, "took", st.Took.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass compares up to one batch of runs with Temporal and repairs them.
// Passes do not overlap: a second caller waits for the first.
func (r *Reconciler) Pass(ctx context.Context) PassStats {
	r.pass.Lock()
	defer r.pass.Unlock()
	r.mu.Lock()
	cursor := r.cursor
	r.mu.Unlock()
	start := r.o.Now()
	var st PassStats
	runs, err := r.store.ReconcileCandidates(ctx, cursor, r.o.Batch, start.Add(-r.o.OperableWindow))
	if err != nil {
		r.o.Logger.Warn("mirror reconcile: list runs", "error", err)
		st.Errors++
	}
	next := ""
	for i, run := range runs {
		if i > 0 && r.o.Now().Sub(start) > r.o.Budget {
			next = runs[i-1].ID
			break
		}
		if ctx.Err() != nil {
			next = run.ID
			break
		}
		st.Checked++
		res, err := r.one(ctx, run)
		if err != nil {
			st.Errors++
			r.o.Logger.Warn("mirror reconcile", "run_id", run.ID, "error", err)
		}
		switch res {
		case repaired:
			st.Repaired++
		case markedFailed:
			st.MarkedFailed++
		case behind:
			st.Behind++
		}
	}
	if next == "" && len(runs) == r.o.Batch {
		next = runs[len(runs)-1].ID
	}
	st.Complete = next == "" && err == nil
	st.Took = r.o.Now().Sub(start)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cursor = next
	s := &r.stats
	s.Passes++
	s.Checked += int64(st.Checked)
	s.Repaired += int64(st.Repaired)
	s.MarkedFailed += int64(st.MarkedFailed)
	s.Behind += int64(st.Behind)
	s.Errors += int64(st.Errors)
	s.Last = st
	r.o.Metrics.ReconcilePass(st.Checked, st.Repaired, st.MarkedFailed, st.Behind, st.Errors, st.Took)
	return st
}

type outcome int

const (
	unchanged outcome = iota
	repaired
	markedFailed
	behind
)

// observeTimeout bounds the questions asked of Temporal about one run.
const observeTimeout = 15 * time.Second

func (r *Reconciler) one(ctx context.Context, run models.Run) (outcome, error) {
	// The mirror first, then Temporal: see NewPlan.
	m, err := r.store.LoadRunMirror(ctx, run.ID)
	if err != nil {
		return unchanged, fmt.Errorf("load mirror: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, observeTimeout)
	obs, err := r.obs.Observe(octx, run.ID)
	cancel()
	if err != nil {
		return unchanged, err
	}
	now := r.o.Now().UTC()
	if !obs.Found {
		return r.unstarted(ctx, m.Run, now)
	}
	p := NewPlan(m, obs.Truth, now)
	if !p.Empty() {
		// The run may have written between the mirror read and its answer:
		// what it wrote then is no repair (a transition appended from the
		// first read would be logged twice). Read again, plan again.
		if m, err = r.store.LoadRunMirror(ctx, run.ID); err != nil {
			return unchanged, fmt.Errorf("load mirror: %w", err)
		}
		p = NewPlan(m, obs.Truth, now)
	}
	if p.Empty() {
		if len(p.Behind) > 0 {
			return behind, nil
		}
		return unchanged, nil
	}
	if err := r.store.ApplyMirror(ctx, p.Batch); err != nil {
		return unchanged, fmt.Errorf("repair: %w", err)
	}
	r.o.Logger.Info("mirror repaired", "run_id", run.ID, "repairs", p.Repairs)
	return repaired, nil
}

// unstarted fails a run that has no workflow once the start grace is over:
// nothing would ever move it on. The write is the one startRun makes when
// the engine refuses a start, at the row's own rev, so a workflow that
// started after all still wins with its own writes.
func (r *Reconciler) unstarted(ctx context.Context, run models.Run, now time.Time) (outcome, error) {
	if status.Run(run.Status).Terminal() || now.Sub(run.CreatedAt) < r.o.StartGrace {
		return unchanged, nil
	}
	msg := fmt.Sprintf("no workflow was started for this run within %s of its creation (found by the mirror reconciler)", r.o.StartGrace)
	err := r.store.ApplyMirror(ctx, models.MirrorBatch{
		RunID: run.ID,
		Run:   &models.RunUpdate{Status: string(status.RunFailed), Rev: run.Rev, Message: msg, FinishedAt: &now},
		Transitions: []models.Transition{{RunID: run.ID, Entity: "run", EntityID: run.ID,
			FromStatus: run.Status, ToStatus: string(status.RunFailed), Actor: Actor, Reason: msg, At: now}},
	})
	if err != nil {
		return unchanged, fmt.Errorf("mark unstarted run failed: %w", err)
	}
	r.o.Logger.Warn("run without workflow marked failed", "run_id", run.ID, "status", run.Status)
	return markedFailed, nil
}

// Check compares one run's mirror with Temporal and lists every
// difference; it writes nothing. Tests use it to assert convergence.
func Check(ctx context.Context, store *models.Store, obs Observer, runID string) ([]string, error) {
	m, err := store.LoadRunMirror(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("check run %s: %w", runID, err)
	}
	o, err := obs.Observe(ctx, runID)
	if err != nil {
		return nil, fmt.Errorf("check run %s: %w", runID, err)
	}
	if !o.Found {
		if status.Run(m.Run.Status).Terminal() {
			return nil, nil
		}
		return []string{fmt.Sprintf("run %s: %s in the mirror but has no workflow", runID, m.Run.Status)}, nil
	}
	return Diff(m, o.Truth), nil
}
