package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// WriteBehind is a worker's queue of the mirror writes the run workflow
// does not wait for (workflows.MirrorBatch.WriteBehind). The workflow's
// mirror activity queues a batch and answers at once, so the workflow task
// completes, and its dispatch reaches the server, without waiting for the
// database; writers apply the queue behind it.
//
// What the mirror promised still holds:
//   - never backwards: every row is written through the store's rev-guarded
//     upserts, and a run's batches are written one at a time in the order
//     they came;
//   - batched: the batches a run queues within Linger of the first, or
//     while one of its writes is in flight, are folded into one transaction; a later state of a node or instance
//     replaces the earlier one when writing it alone leaves the row as
//     writing both would (see covers), else both go, in order;
//   - converging: a failed write is kept and retried with backoff, later
//     batches folding into it; an awaited write (WriteNow, what the run ends
//     with) first takes every queued write of its run. What a worker still
//     held when it died is lost with it and repaired by internal/reconcile,
//     as any lost write is.
//
// Queued rows are bounded (MaxRows): past it, Enqueue refuses and the
// activity writes synchronously, so a database that is down slows the
// workflow down again instead of growing the queue without end.
type WriteBehind struct {
	store *models.Store
	o     WriteBehindOptions

	mu     sync.Mutex
	wake   *sync.Cond
	runs   map[string]*queuedRun
	ready  []string // runs with batches to write, oldest first
	rows   int      // queued rows, all runs
	closed bool
	done   sync.WaitGroup
}

// WriteBehindOptions configures a WriteBehind; zero values take defaults.
type WriteBehindOptions struct {
	// Writers is how many runs are written at once (default 2).
	Writers int
	// MaxRows bounds the queued rows of all runs (default 200,000).
	MaxRows int
	// WriteTimeout bounds one write (default 30s).
	WriteTimeout time.Duration
	// Linger is how long a run's first queued batch waits for more before
	// it is written (default 50ms; negative: not at all). Writes then
	// coalesce across workflow tasks: a chain of quick tasks queues a
	// batch every few milliseconds, and one transaction for several costs
	// less than one each, whose CPU the hops of the same process and
	// machine would otherwise wait behind.
	Linger time.Duration
	// Written is told of each batch written, with the time its write began.
	Written func(ctx context.Context, b models.MirrorBatch, began time.Time)
	Logger  *slog.Logger
}

// ErrQueueFull and ErrQueueClosed are Enqueue's refusals: the caller writes
// the batch itself.
var (
	ErrQueueFull   = errors.New("mirror write-behind queue full")
	ErrQueueClosed = errors.New("mirror write-behind queue closed")
)

type queuedRun struct {
	// batches are written in order; the last one takes new writes. A run
	// update that the last batch's cannot take (see covers) starts a batch.
	batches []models.MirrorBatch
	nodes   map[string]int // node id -> index in the last batch's Nodes
	insts   map[string]int // instance id -> index in the last batch's Instances
	rows    int
	queued  bool        // in ready
	writing bool        // a writer (or WriteNow) holds this run's batches
	retry   *time.Timer // a failed write waits for its backoff
	linger  *time.Timer // the first queued batch waits for more (Linger)
	bo      *backoff.ExponentialBackOff
}

// NewWriteBehind starts the queue's writers; Close stops them.
func NewWriteBehind(store *models.Store, o WriteBehindOptions) *WriteBehind {
	w := newWriteBehind(store, o)
	for range w.o.Writers {
		w.done.Add(1)
		go w.writer()
	}
	return w
}

// newWriteBehind is the queue without its writers: only WriteNow writes.
func newWriteBehind(store *models.Store, o WriteBehindOptions) *WriteBehind {
	if o.Writers <= 0 {
		o.Writers = 2
	}
	if o.MaxRows <= 0 {
		o.MaxRows = 200_000
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.Linger == 0 {
		o.Linger = 50 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &WriteBehind{store: store, o: o, runs: map[string]*queuedRun{}}
	w.wake = sync.NewCond(&w.mu)
	return w
}

func batchRows(b models.MirrorBatch) int {
	n := len(b.Nodes) + len(b.Instances) + len(b.Transitions)
	if b.Run != nil {
		n++
	}
	return n
}

// Enqueue queues b for writing and returns at once.
func (w *WriteBehind) Enqueue(b models.MirrorBatch) error {
	n := batchRows(b)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrQueueClosed
	}
	if w.rows+n > w.o.MaxRows {
		return ErrQueueFull
	}
	q := w.runs[b.RunID]
	if q == nil {
		q = &queuedRun{}
		w.runs[b.RunID] = q
	}
	w.rows -= q.rows
	q.absorb(b)
	w.rows += q.rows
	if w.o.Linger > 0 && !q.queued && !q.writing && q.retry == nil && q.linger == nil {
		var t *time.Timer
		t = time.AfterFunc(w.o.Linger, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if q.linger == t {
				q.linger = nil
				w.schedule(b.RunID, q)
			}
		})
		q.linger = t
		return nil
	}
	w.schedule(b.RunID, q)
	return nil
}

// WriteNow writes b after every queued write of its run, in one
// transaction, and returns when it is in the database. On failure the
// queued part stays queued (and is retried); b is the caller's to resend.
func (w *WriteBehind) WriteNow(ctx context.Context, b models.MirrorBatch) error {
	w.mu.Lock()
	for {
		q := w.runs[b.RunID]
		if q == nil || !q.writing {
			break
		}
		w.wake.Wait() // a writer holds the run: its write is bounded by WriteTimeout
	}
	q := w.runs[b.RunID]
	if q == nil {
		q = &queuedRun{}
		w.runs[b.RunID] = q
	}
	if q.retry != nil {
		q.retry.Stop()
		q.retry = nil
	}
	if q.linger != nil {
		q.linger.Stop()
		q.linger = nil
	}
	queued := w.take(q)
	q.writing = true
	w.mu.Unlock()

	all := append(queued, b)
	err := w.apply(ctx, all)

	w.mu.Lock()
	defer w.mu.Unlock()
	q.writing = false
	if err != nil {
		w.putBack(b.RunID, q, queued)
	} else {
		q.bo = nil
		w.schedule(b.RunID, q)
	}
	w.wake.Broadcast()
	if err != nil {
		return fmt.Errorf("write mirror of run %s with its queued writes: %w", b.RunID, err)
	}
	return nil
}

// Close stops taking writes, writes what is queued (one more try for a
// write waiting out its backoff), and returns when the writers are done or
// ctx ends. What is left then is the reconciler's to repair.
func (w *WriteBehind) Close(ctx context.Context) error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	w.closed = true
	for id, q := range w.runs {
		if q.retry != nil || q.linger != nil {
			if q.retry != nil {
				q.retry.Stop()
			}
			if q.linger != nil {
				q.linger.Stop()
			}
			q.retry, q.linger = nil, nil
			w.schedule(id, q)
		}
	}
	w.wake.Broadcast()
	w.mu.Unlock()
	finished := make(chan struct{})
	go func() { w.done.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		left := w.rows
		w.mu.Unlock()
		return fmt.Errorf("close mirror write-behind queue: %d rows unwritten: %w", left, ctx.Err())
	}
}

// Queued is how many rows wait to be written.
func (w *WriteBehind) Queued() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows
}

// schedule puts q in ready if it has something to write and nobody holds
// it; a run that is done is forgotten. Called with mu held.
func (w *WriteBehind) schedule(id string, q *queuedRun) {
	switch {
	case len(q.batches) == 0:
		if !q.writing && !q.queued && q.retry == nil && q.linger == nil {
			delete(w.runs, id)
		}
	case !q.queued && !q.writing && q.retry == nil && q.linger == nil:
		q.queued = true
		w.ready = append(w.ready, id)
		w.wake.Broadcast()
	}
}

// take removes q's batches from the queue. Called with mu held.
func (w *WriteBehind) take(q *queuedRun) []models.MirrorBatch {
	bs := q.batches
	w.rows -= q.rows
	q.batches, q.nodes, q.insts, q.rows = nil, nil, nil, 0
	return bs
}

// putBack returns a failed write's batches to the front of q, ahead of
// what was queued since, and arms the retry. Called with mu held.
func (w *WriteBehind) putBack(id string, q *queuedRun, failed []models.MirrorBatch) {
	if len(failed) == 0 {
		w.schedule(id, q)
		return
	}
	if w.closed {
		w.o.Logger.Warn("mirror write-behind: dropping a failed write at close; the reconciler repairs it",
			"run", id, "rows", rowsOf(failed))
		w.schedule(id, q)
		return
	}
	later := q.batches
	w.rows -= q.rows
	q.batches, q.nodes, q.insts, q.rows = nil, nil, nil, 0
	for _, b := range append(failed, later...) {
		q.absorb(b)
	}
	w.rows += q.rows
	if q.bo == nil {
		q.bo = backoff.NewExponentialBackOff()
		q.bo.InitialInterval = 200 * time.Millisecond
		q.bo.MaxInterval = 10 * time.Second
	}
	var t *time.Timer
	t = time.AfterFunc(q.bo.NextBackOff(), func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if q.retry == t {
			q.retry = nil
			w.schedule(id, q)
		}
	})
	q.retry = t
}

func rowsOf(bs []models.MirrorBatch) int {
	n := 0
	for _, b := range bs {
		n += batchRows(b)
	}
	return n
}

func (w *WriteBehind) writer() {
	defer w.done.Done()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		for len(w.ready) == 0 && !w.closed {
			w.wake.Wait()
		}
		if len(w.ready) == 0 {
			return // closed, and nothing left that a writer may take
		}
		id := w.ready[0]
		w.ready = w.ready[1:]
		q := w.runs[id]
		if q == nil {
			continue
		}
		q.queued = false
		if q.writing || q.retry != nil || q.linger != nil || len(q.batches) == 0 {
			continue
		}
		bs := w.take(q)
		q.writing = true
		w.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), w.o.WriteTimeout)
		err := w.apply(ctx, bs)
		cancel()

		w.mu.Lock()
		q.writing = false
		if err != nil {
			w.o.Logger.Warn("mirror write-behind: write failed; retrying", "run", id, "rows", rowsOf(bs), "error", err)
			w.putBack(id, q, bs)
		} else {
			q.bo = nil
			w.schedule(id, q)
		}
		w.wake.Broadcast()
	}
}

// apply writes one run's batches in one transaction.
func (w *WriteBehind) apply(ctx context.Context, bs []models.MirrorBatch) error {
	began := time.Now()
	var err error
	switch {
	case len(bs) == 1:
		err = w.store.ApplyMirror(ctx, bs[0])
	case slices.ContainsFunc(bs, func(b models.MirrorBatch) bool { return b.Reset != nil }):
		// The bulk path has no reset step: one write at a time, in order.
		for i := range bs {
			if err = w.store.ApplyMirror(ctx, bs[i]); err != nil {
				break
			}
		}
	default:
		err = w.store.ApplyMirrorBatches(ctx, bs)
	}
	if err != nil {
		return err
	}
	if w.o.Written != nil {
		for _, b := range bs {
			w.o.Written(ctx, b, began)
		}
	}
	return nil
}

// absorb adds b to the run's queue, folding each of its node and instance
// states into the queued state of the same entity where covers allows.
func (q *queuedRun) absorb(b models.MirrorBatch) {
	// A reset execution's first write (Reset) rewrites the transitions it
	// carries from what the log last recorded (models.applyReset): it is
	// never folded into another write, nor another into it.
	if len(q.batches) == 0 || b.Reset != nil || q.last().Reset != nil ||
		(b.Run != nil && q.last().Run != nil && !runCovers(q.last().Run, b.Run)) {
		q.batches = append(q.batches, models.MirrorBatch{RunID: b.RunID, Reset: b.Reset})
		q.nodes, q.insts = map[string]int{}, map[string]int{}
	}
	last := q.last()
	q.rows -= batchRows(*last)
	if b.Run != nil {
		u := *b.Run
		if e := last.Run; e != nil {
			u.Kind, u.DefinitionID, u.DefinitionName = or(u.Kind, e.Kind), or(u.DefinitionID, e.DefinitionID), or(u.DefinitionName, e.DefinitionName)
			u.Group, u.Trigger, u.Bizdate = or(u.Group, e.Group), or(u.Trigger, e.Trigger), or(u.Bizdate, e.Bizdate)
			u.Params, u.Initiator, u.ParentRunID = or(u.Params, e.Params), or(u.Initiator, e.Initiator), or(u.ParentRunID, e.ParentRunID)
			u.WorkflowID = or(u.WorkflowID, e.WorkflowID)
			if u.Version == 0 {
				u.Version = e.Version
			}
			u.StartedAt = once(e.StartedAt, u.StartedAt)
		}
		last.Run = &u
	}
	for _, n := range b.Nodes {
		if i, ok := q.nodes[n.NodeID]; ok && nodeCovers(last.Nodes[i], n) {
			n.StartedAt = once(last.Nodes[i].StartedAt, n.StartedAt)
			last.Nodes[i] = n
			continue
		}
		q.nodes[n.NodeID] = len(last.Nodes)
		last.Nodes = append(last.Nodes, n)
	}
	for _, in := range b.Instances {
		if i, ok := q.insts[in.ID]; ok && instanceCovers(last.Instances[i], in) {
			e := last.Instances[i]
			in.DispatchedAt, in.StartedAt = once(e.DispatchedAt, in.DispatchedAt), once(e.StartedAt, in.StartedAt)
			last.Instances[i] = in
			continue
		}
		q.insts[in.ID] = len(last.Instances)
		last.Instances = append(last.Instances, in)
	}
	last.Transitions = append(last.Transitions, b.Transitions...)
	q.rows += batchRows(*last)
}

func (q *queuedRun) last() *models.MirrorBatch { return &q.batches[len(q.batches)-1] }

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// once is a set-once column's value after writing earlier, then later.
func once(earlier, later *time.Time) *time.Time {
	if earlier != nil {
		return earlier
	}
	return later
}

// The covers functions say whether writing the later state alone leaves a
// row as writing the earlier one and then the later would, by the store's
// column rules (models.ApplyMirror): the later rev is not older, every
// text or value column the earlier would set the later sets too, and
// set-once columns agree or are taken from the earlier (see once).
func textCovers(earlier, later string) bool { return earlier == "" || later != "" }

func valueCovers[T any](earlier, later *T) bool { return earlier == nil || later != nil }

func onceCovers(earlier, later *time.Time) bool {
	return earlier == nil || later == nil || earlier.Equal(*later)
}

func runCovers(e, u *models.RunUpdate) bool {
	return u.Rev >= e.Rev && textCovers(e.Status, u.Status) && textCovers(e.TemporalRunID, u.TemporalRunID) &&
		textCovers(e.Message, u.Message) && valueCovers(e.FinishedAt, u.FinishedAt) && onceCovers(e.StartedAt, u.StartedAt)
}

func nodeCovers(e, u models.NodeUpdate) bool {
	return u.Rev >= e.Rev && textCovers(e.Status, u.Status) && (len(e.Outputs) == 0 || len(u.Outputs) > 0) &&
		textCovers(e.Message, u.Message) && valueCovers(e.FinishedAt, u.FinishedAt) && onceCovers(e.StartedAt, u.StartedAt)
}

func instanceCovers(e, u models.InstanceUpdate) bool {
	return u.Rev >= e.Rev && textCovers(e.Status, u.Status) && textCovers(e.WorkerID, u.WorkerID) &&
		textCovers(e.Host, u.Host) && textCovers(e.Message, u.Message) && valueCovers(e.ExitCode, u.ExitCode) &&
		valueCovers(e.FinishedAt, u.FinishedAt) && onceCovers(e.DispatchedAt, u.DispatchedAt) &&
		onceCovers(e.StartedAt, u.StartedAt)
}

// stampDispatch gives the instances a batch first records as waiting the
// time they were queued: the store would otherwise stamp the time of the
// write, which a queued write makes later.
func stampDispatch(b *models.MirrorBatch, now time.Time) {
	for i := range b.Instances {
		in := &b.Instances[i]
		if in.DispatchedAt == nil && in.Status == string(status.InstanceWaiting) {
			in.DispatchedAt = &now
		}
	}
}
