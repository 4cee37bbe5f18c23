package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/internal/quartz"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// RunStarter starts a run's workflow (internal/engine.Engine).
type RunStarter interface {
	StartRun(ctx context.Context, in workflows.RunInput) (string, error)
}

// SchedulePauser pauses a Temporal schedule (internal/engine.Engine).
type SchedulePauser interface {
	PauseSchedule(ctx context.Context, scheduleID, note string) error
}

// Runs records and starts runs the engine creates by itself: backfill dates
// and schedule fires.
type Runs struct {
	Store     *models.Store
	Starter   RunStarter
	Schedules SchedulePauser
	Metrics   *metrics.Metrics
}

// StartRun records the run and starts it. It is idempotent: a retry after
// the row or the workflow already exists finishes the job without a second
// run.
func (a *Runs) StartRun(ctx context.Context, req workflows.StartRunRequest) (workflows.StartRunResult, error) {
	res, err := a.startRun(ctx, req)
	if err == nil && (req.Record.Trigger == dag.TriggerCron || req.Record.Trigger == dag.TriggerFixedRate) {
		switch {
		case !res.Started:
			a.Metrics.ScheduleFire("skipped")
		case res.Reason != "":
			a.Metrics.ScheduleFire("duplicate")
		default:
			a.Metrics.ScheduleFire("started")
		}
	}
	return res, err
}

func (a *Runs) startRun(ctx context.Context, req workflows.StartRunRequest) (workflows.StartRunResult, error) {
	// A fire's bizdate was taken in its time zone; one that does not load
	// here (a worker without that zone) is refused, never taken for UTC.
	loc, err := quartz.LoadLocation(req.Timezone)
	if err != nil {
		return workflows.StartRunResult{}, temporal.NewNonRetryableApplicationError("bad time zone in schedule", "BadTimezone", err)
	}
	if req.Cron != "" {
		// Temporal's calendars fire a few extra times around DST changes in
		// some zones (see internal/quartz); Quartz would not, so neither do we.
		expr, err := quartz.Parse(req.Cron)
		if err != nil {
			return workflows.StartRunResult{}, temporal.NewNonRetryableApplicationError("bad cron in schedule", "BadCron", err)
		}
		if !expr.Matches(req.FireTime, loc) {
			return workflows.StartRunResult{Reason: fmt.Sprintf("%s is not a fire time of %q in %s", req.FireTime, req.Cron, loc)}, nil
		}
	}
	r := req.Record
	params, err := json.Marshal(r.Params)
	if err != nil {
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: params: %w", r.ID, err)
	}
	row := &models.Run{ID: r.ID, Kind: r.Kind, DefinitionID: r.DefinitionID, DefinitionName: r.DefinitionName,
		Version: r.Version, Group: r.Group, Status: "waiting", Trigger: r.Trigger, Bizdate: r.Bizdate,
		Params: string(params), Initiator: r.Initiator, ParentRunID: r.ParentRunID, BackfillID: r.BackfillID,
		WorkflowID: workflows.WorkflowID(r.ID)}
	in := req.Input
	if in.Alerts, err = a.Store.RunAlertRules(ctx, r.Kind, r.Group, in.Flow); err != nil {
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	launched, err := LaunchRun(ctx, a.Store, a.Starter, row, in, r.Initiator, "")
	switch {
	case err != nil:
		// Every step is safe to repeat: the activity's retry finishes it.
		return workflows.StartRunResult{}, err
	case launched.AlreadyStarted:
		return workflows.StartRunResult{Started: true, Reason: "already started", Alerts: req.Input.Alerts}, nil
	}
	// The fire and the backfill alert on the rules the run started with.
	return workflows.StartRunResult{Started: true, Alerts: req.Input.Alerts}, nil
}

// RunLaunch is what LaunchRun did.
type RunLaunch struct {
	TemporalRunID string
	// AlreadyStarted: the run's workflow existed already (a start tried
	// again); nothing more was recorded.
	AlreadyStarted bool
}

// LaunchStep names the step of LaunchRun that failed.
type LaunchStep string

// The steps of LaunchRun, in order.
const (
	// LaunchInsert: the run row could not be inserted; nothing started.
	LaunchInsert LaunchStep = "insert"
	// LaunchStart: the workflow did not start (or gave no answer); the row
	// waits without a workflow.
	LaunchStart LaunchStep = "start"
	// LaunchRecord: the run started, but its workflow ids or its first
	// execution were not recorded (the workflow's first mirror write
	// records the Temporal run id too).
	LaunchRecord LaunchStep = "record"
)

// LaunchError is a failed LaunchRun and the step it failed at.
type LaunchError struct {
	Step LaunchStep
	// TemporalRunID is set from LaunchRecord on.
	TemporalRunID string
	Err           error
}

func (e *LaunchError) Error() string { return e.Err.Error() }
func (e *LaunchError) Unwrap() error { return e.Err }

// LaunchRun is the one run-start sequence, for the API's runs and the
// engine's own (schedule fires, backfill dates): insert the run row
// (status waiting; a row already there is a start tried again), start its
// workflow (the workflow id, from the run id, is the idempotency key), then
// record the workflow on the row and the run's first execution. Each step
// is safe to repeat; docs/architecture.md ("Start") has what each failure
// leaves and what repairs it. Errors are *LaunchError.
func LaunchRun(ctx context.Context, store *models.Store, starter RunStarter, row *models.Run, in workflows.RunInput,
	actor, requestID string) (RunLaunch, error) {
	fail := func(step LaunchStep, temporalRunID string, err error) (RunLaunch, error) {
		return RunLaunch{TemporalRunID: temporalRunID}, &LaunchError{Step: step, TemporalRunID: temporalRunID, Err: err}
	}
	if err := store.CreateRun(ctx, row); err != nil && !errors.Is(err, models.ErrConflict) {
		return fail(LaunchInsert, "", fmt.Errorf("start run %s: %w", row.ID, err))
	}
	if starter == nil {
		return fail(LaunchStart, "", errors.New("no engine configured"))
	}
	temporalRunID, err := starter.StartRun(ctx, in) // its errors name the run
	switch {
	case errors.Is(err, models.ErrConflict):
		return RunLaunch{AlreadyStarted: true}, nil
	case err != nil:
		return fail(LaunchStart, "", err)
	}
	// Both records are tried: one lost write should not take the other.
	errs := errors.Join(store.SetRunWorkflow(ctx, row.ID, row.WorkflowID, temporalRunID),
		store.AddRunExecution(ctx, &models.RunExecution{RunID: row.ID, TemporalRunID: temporalRunID,
			Reason: "start", Actor: actor, RequestID: requestID}))
	if errs != nil {
		return fail(LaunchRecord, temporalRunID, fmt.Errorf("start run %s: %w", row.ID, errs))
	}
	return RunLaunch{TemporalRunID: temporalRunID}, nil
}

// ActiveFiredRuns lists the definition's runs that schedule fires started
// and that have not ended, for a fire under terminate_other.
func (a *Runs) ActiveFiredRuns(ctx context.Context, req workflows.ActiveFiredRunsRequest) ([]string, error) {
	ids, err := a.Store.ActiveRunIDs(ctx, req.Kind, req.DefinitionID, []string{dag.TriggerCron, dag.TriggerFixedRate})
	if err != nil {
		return nil, fmt.Errorf("active fired runs of %s %s: %w", req.Kind, req.DefinitionID, err)
	}
	return ids, nil
}

// PauseSchedule pauses the schedule of a fire whose run failed, for
// pause_on_failure.
func (a *Runs) PauseSchedule(ctx context.Context, req workflows.PauseScheduleRequest) error {
	if err := a.Schedules.PauseSchedule(ctx, req.ScheduleID, req.Note); err != nil {
		return fmt.Errorf("pause on failure: %w", err)
	}
	return nil
}

// RecordBackfill stores a backfill driver's progress.
func (a *Runs) RecordBackfill(ctx context.Context, p workflows.BackfillProgress) error {
	var prev *models.Backfill
	if a.Metrics != nil {
		// The driver reports totals; the dates done since are the difference.
		prev, _ = a.Store.GetBackfill(ctx, p.ID)
	}
	err := a.Store.UpdateBackfillProgress(ctx, p.ID, models.BackfillCounts{Status: string(p.Status), Total: p.Total,
		Done: p.Done, Failed: p.Failed, Running: p.Running, Waiting: p.Waiting})
	if err == nil && prev != nil {
		a.Metrics.BackfillDates("done", p.Done-prev.Done)
		a.Metrics.BackfillDates("failed", p.Failed-prev.Failed)
	}
	return err
}
