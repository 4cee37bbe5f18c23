package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// Names of the backfill driver and its parts. Never rename: recorded
// histories refer to them.
const (
	BackfillWorkflowName = "baton.Backfill"
	FireWorkflowName     = "baton.Fire"
	StartRunActivity     = "baton.StartRun"
	RecordBackfillLocal  = "baton.RecordBackfill"
	// SignalBackfill carries a BackfillControl.
	SignalBackfill = "backfill-control"
	// QueryProgress returns a BackfillProgress.
	QueryProgress = "progress"
	// backfillHistoryLimit is where the driver continues as new; a date
	// costs about a dozen events.
	backfillHistoryLimit = 8000
)

// BackfillWorkflowID derives a backfill's workflow id from its id.
func BackfillWorkflowID(id string) string { return "baton-backfill-" + id }

// RunRecord is the mirror row of a run the engine starts by itself.
type RunRecord struct {
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	DefinitionID   string            `json:"definition_id"`
	DefinitionName string            `json:"definition_name"`
	Version        int               `json:"version"`
	Group          string            `json:"group"`
	Trigger        string            `json:"trigger"`
	Bizdate        string            `json:"bizdate"`
	Params         map[string]string `json:"params,omitempty"`
	Initiator      string            `json:"initiator"`
	ParentRunID    string            `json:"parent_run_id,omitempty"`
	BackfillID     string            `json:"backfill_id,omitempty"`
}

// StartRunRequest asks the StartRun activity to record and start a run.
type StartRunRequest struct {
	Record RunRecord `json:"record"`
	Input  RunInput  `json:"input"`
	// Cron and Timezone, for schedule fires: a fire time the expression does
	// not match (Temporal's extra fires around DST changes) starts nothing.
	Cron     string    `json:"cron,omitempty"`
	Timezone string    `json:"timezone,omitempty"`
	FireTime time.Time `json:"fire_time,omitempty"`
}

// StartRunResult says whether a run was started.
type StartRunResult struct {
	Started bool   `json:"started"`
	Reason  string `json:"reason,omitempty"`
	// Alerts are the alert rules the run was started with (its
	// RunInput.Alerts as resolved at start): the fire and the backfill
	// alert on them too, so every alert of a definition follows one set
	// of rules.
	Alerts []dag.AlertRule `json:"alerts,omitempty"`
}

// BackfillInput describes a backfill: one run per business date.
type BackfillInput struct {
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	DefinitionID   string            `json:"definition_id"`
	DefinitionName string            `json:"definition_name"`
	Version        int               `json:"version"`
	Group          string            `json:"group"`
	Flow           dag.Flow          `json:"flow"` // snapshot, already cut to the chosen nodes
	Params         map[string]string `json:"params,omitempty"`
	// Dates are the business dates in the order they run.
	Dates          []string     `json:"dates"`
	Parallel       int          `json:"parallel"`
	Initiator      string       `json:"initiator"`
	Mirror         bool         `json:"mirror"`
	OperableWindow dag.Duration `json:"operable_window,omitempty"`
	// HistoryLimit is the history length at which the driver continues as
	// new (0: 8,000 events).
	HistoryLimit int            `json:"history_limit,omitempty"`
	Carry        *BackfillCarry `json:"carry,omitempty"`
}

// BackfillDate is one date's state.
type BackfillDate struct {
	Bizdate string              `json:"bizdate"`
	RunID   string              `json:"run_id,omitempty"`
	Attempt int                 `json:"attempt,omitempty"`
	Status  status.BackfillDate `json:"status"`
	// RunStatus is the run's own final status.
	RunStatus string `json:"run_status,omitempty"`
}

// BackfillCarry is the driver's state across continue-as-new.
type BackfillCarry struct {
	Dates   []BackfillDate `json:"dates"`
	Paused  bool           `json:"paused,omitempty"`
	Stopped bool           `json:"stopped,omitempty"`
	// Version is the driver's version of changeBackfillAlerts.
	Version int `json:"version,omitempty"`
	// Alerts are the rules of the backfill's runs (StartRunResult.Alerts).
	Alerts []dag.AlertRule `json:"alerts,omitempty"`
	// Finishes counts the backfill's arrivals at its end (the key of
	// backfill_finished); Finished says the current one was alerted.
	Finishes int  `json:"finishes,omitempty"`
	Finished bool `json:"finished,omitempty"`
	// Pending are deliveries still open at the handover.
	Pending []AlertEvent `json:"pending,omitempty"`
}

// changeBackfillAlerts: the driver sends backfill_finished, with the
// dates' counts by status, whenever every date has ended.
var changeBackfillAlerts = newChange(BackfillWorkflowName, "backfill-alerts", 1)

// BackfillControl is an operator's request to a backfill.
type BackfillControl struct {
	Op    status.BackfillOp `json:"op"`
	Actor string            `json:"actor,omitempty"`
}

// BackfillProgress is a backfill's live state.
type BackfillProgress struct {
	ID      string          `json:"id"`
	Status  status.Backfill `json:"status"`
	Total   int             `json:"total"`
	Done    int             `json:"done"`
	Failed  int             `json:"failed"`
	Running int             `json:"running"`
	Waiting int             `json:"waiting"`
	Dates   []BackfillDate  `json:"dates"`
}

// BackfillWorkflow drives a backfill: it starts the dates' runs in order,
// never more than Parallel at once, learns of their ends from the runs'
// RunEnded signals, and continues as new before its history grows long, so
// years of dates work.
func BackfillWorkflow(ctx workflow.Context, in BackfillInput) (BackfillProgress, error) {
	b := &backfill{ctx: ctx, in: in, log: workflow.GetLogger(ctx)}
	if c := in.Carry; c != nil {
		b.dates, b.paused, b.stopped = c.Dates, c.Paused, c.Stopped
		b.version, b.rules, b.finishes, b.finished = workflow.Version(c.Version), c.Alerts, c.Finishes, c.Finished
		for _, ev := range c.Pending {
			b.alerts.send(ctx, ev)
		}
	} else {
		b.version = changeBackfillAlerts.get(ctx)
		for _, d := range in.Dates {
			b.dates = append(b.dates, BackfillDate{Bizdate: d, Status: "waiting"})
		}
	}
	if b.in.Parallel < 1 {
		b.in.Parallel = 1
	}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (BackfillProgress, error) { return b.progress(), nil }); err != nil {
		return BackfillProgress{}, fmt.Errorf("register progress query: %w", err)
	}
	ended := workflow.GetSignalChannel(ctx, SignalRunEnded)
	ctrl := workflow.GetSignalChannel(ctx, SignalBackfill)
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(ended, func(c workflow.ReceiveChannel, _ bool) {
		var e RunEnded
		c.Receive(ctx, &e)
		b.runEnded(e)
	})
	sel.AddReceive(ctrl, func(c workflow.ReceiveChannel, _ bool) {
		var req BackfillControl
		c.Receive(ctx, &req)
		b.control(req)
	})
	var window workflow.Future
	for {
		b.startDue()
		b.record()
		p := b.progress()
		if p.Running == 0 && (p.Waiting == 0 || b.stopped) {
			b.alertFinished(p)
			drained := func() bool {
				return b.version < 1 || b.alerts.drained(ctx, sel, alertScheduleToClose+time.Minute)
			}
			if p.Failed == 0 || b.stopped {
				if drained() {
					return p, nil
				}
			} else {
				// Failed dates can still be retried for the operable window.
				if window == nil {
					d := in.OperableWindow.MustStd()
					if d <= 0 {
						d = DefaultOperableWindow
					}
					window = workflow.NewTimer(ctx, d)
					sel.AddFuture(window, func(workflow.Future) {})
				}
				if window.IsReady() && drained() {
					return p, nil
				}
			}
		} else {
			b.finished = false
		}
		limit := backfillHistoryLimit
		if in.HistoryLimit > 0 {
			limit = in.HistoryLimit
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > limit {
			// Take in every signal already delivered: a continue-as-new with
			// unhandled signals would lose them.
			for sel.HasPending() {
				sel.Select(ctx)
			}
			next := in
			next.Carry = &BackfillCarry{Dates: b.dates, Paused: b.paused, Stopped: b.stopped, Version: int(b.version),
				Alerts: b.rules, Finishes: b.finishes, Finished: b.finished, Pending: b.alerts.undelivered()}
			return BackfillProgress{}, workflow.NewContinueAsNewError(ctx, BackfillWorkflowName, next)
		}
		sel.Select(ctx)
		for sel.HasPending() {
			sel.Select(ctx)
		}
	}
}

type backfill struct {
	ctx     workflow.Context
	in      BackfillInput
	log     interface{ Info(string, ...any) }
	dates   []BackfillDate
	paused  bool
	stopped bool
	dirty   bool

	version  workflow.Version // of changeBackfillAlerts
	rules    []dag.AlertRule
	finishes int
	finished bool
	alerts   alerter
}

// alertFinished sends backfill_finished once per arrival at the end: a
// retry of the failed dates that ends again pages again.
func (b *backfill) alertFinished(p BackfillProgress) {
	if b.version < 1 || b.finished {
		return
	}
	b.finished = true
	b.finishes++
	counts := map[string]int{}
	for _, d := range b.dates {
		counts[string(d.Status)]++
	}
	b.alerts.send(b.ctx, AlertEvent{Event: dag.AlertBackfillFinished,
		Key: fmt.Sprintf("backfill-%s-%d", b.in.ID, b.finishes), Channels: channelsFor(b.rules, dag.AlertBackfillFinished),
		Kind: b.in.Kind, DefinitionID: b.in.DefinitionID, DefinitionName: b.in.DefinitionName, Version: b.in.Version,
		Group: b.in.Group, Trigger: "backfill", Status: string(p.Status), BackfillID: b.in.ID, Counts: counts})
}

func (b *backfill) progress() BackfillProgress {
	p := BackfillProgress{ID: b.in.ID, Total: len(b.dates), Dates: b.dates}
	for _, d := range b.dates {
		switch d.Status {
		case status.DateSuccess:
			p.Done++
		case status.DateFailed:
			p.Failed++
		case status.DateRunning:
			p.Running++
		default:
			p.Waiting++
		}
	}
	switch {
	case b.stopped && p.Running == 0:
		p.Status = status.BackfillStopped
	case b.paused:
		p.Status = status.BackfillPaused
	case p.Running > 0 || p.Waiting > 0 && !b.stopped:
		p.Status = status.BackfillRunning
	case p.Failed > 0:
		p.Status = status.BackfillFailed
	default:
		p.Status = status.BackfillSuccess
	}
	return p
}

// startDue starts waiting dates, in order, up to the parallel limit.
func (b *backfill) startDue() {
	if b.paused || b.stopped {
		return
	}
	running := b.progress().Running
	for i := range b.dates {
		if running >= b.in.Parallel {
			return
		}
		d := &b.dates[i]
		if d.Status != status.DateWaiting {
			continue
		}
		d.Attempt++
		d.RunID = BackfillRunID(b.in.ID, i, d.Attempt)
		res, err := b.startRun(d)
		if err != nil || !res.Started {
			d.Status, d.RunStatus = status.DateFailed, "not started"
			b.log.Info("backfill date not started", "bizdate", d.Bizdate, "error", err)
		} else {
			d.Status = status.DateRunning
			running++
			if res.Alerts != nil {
				b.rules = res.Alerts
			}
		}
		b.dirty = true
	}
}

func (b *backfill) startRun(d *BackfillDate) (StartRunResult, error) {
	actx := workflow.WithActivityOptions(b.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 10},
	})
	req := StartRunRequest{
		Record: RunRecord{ID: d.RunID, Kind: b.in.Kind, DefinitionID: b.in.DefinitionID, DefinitionName: b.in.DefinitionName,
			Version: b.in.Version, Group: b.in.Group, Trigger: "backfill", Bizdate: d.Bizdate, Params: b.in.Params,
			Initiator: b.in.Initiator, BackfillID: b.in.ID},
		Input: RunInput{RunID: d.RunID, Kind: b.in.Kind, DefinitionID: b.in.DefinitionID, Version: b.in.Version,
			Trigger: "backfill", Bizdate: d.Bizdate, Params: b.in.Params, Flow: b.in.Flow, Mirror: b.in.Mirror,
			OperableWindow: b.in.OperableWindow, Notify: workflow.GetInfo(b.ctx).WorkflowExecution.ID},
	}
	var res StartRunResult
	err := workflow.ExecuteActivity(actx, StartRunActivity, req).Get(b.ctx, &res)
	return res, err
}

func (b *backfill) runEnded(e RunEnded) {
	for i := range b.dates {
		d := &b.dates[i]
		if d.RunID != e.RunID {
			continue
		}
		d.RunStatus = e.Status
		if e.Status == string(status.RunSuccess) {
			d.Status = status.DateSuccess
		} else {
			d.Status = status.DateFailed
		}
		b.dirty = true
	}
}

func (b *backfill) control(req BackfillControl) {
	switch req.Op {
	case status.BackfillPause:
		b.paused = true
	case status.BackfillResume:
		b.paused = false
	case status.BackfillStop:
		b.stopped = true
		b.stopRunning()
	case status.BackfillRetry:
		// Only the failed dates run again, as new runs.
		for i := range b.dates {
			if b.dates[i].Status == status.DateFailed {
				b.dates[i].Status = status.DateWaiting
			}
		}
		b.stopped = false
	}
	b.dirty = true
}

// stopRunning stops the backfill's running runs through their own control
// signal, as an operator would.
func (b *backfill) stopRunning() {
	for _, d := range b.dates {
		if d.Status != status.DateRunning {
			continue
		}
		req := control.Request{ID: "backfill-stop-" + d.RunID, Op: status.OpStop, Actor: "backfill " + b.in.ID}
		if err := workflow.SignalExternalWorkflow(b.ctx, WorkflowID(d.RunID), "", SignalControl, req).Get(b.ctx, nil); err != nil {
			b.log.Info("stop of backfill run failed", "run", d.RunID, "error", err)
		}
	}
}

// record writes the progress to the mirror when it changed.
func (b *backfill) record() {
	if !b.dirty || !b.in.Mirror {
		return
	}
	b.dirty = false
	p := b.progress()
	p.Dates = nil
	lctx := workflow.WithLocalActivityOptions(b.ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5},
	})
	if err := workflow.ExecuteLocalActivity(lctx, RecordBackfillLocal, p).Get(b.ctx, nil); err != nil {
		b.dirty = true
		b.log.Info("backfill progress not recorded", "error", err)
	}
}
