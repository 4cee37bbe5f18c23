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
	if err := a.Store.CreateRun(ctx, row); err != nil && !errors.Is(err, models.ErrConflict) {
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	in := req.Input
	if in.Alerts, err = a.Store.RunAlertRules(ctx, r.Kind, r.Group, in.Flow); err != nil {
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	temporalRunID, err := a.Starter.StartRun(ctx, in)
	switch {
	case errors.Is(err, models.ErrConflict):
		return workflows.StartRunResult{Started: true, Reason: "already started", Alerts: req.Input.Alerts}, nil
	case err != nil:
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	if err := a.Store.SetRunWorkflow(ctx, r.ID, workflows.WorkflowID(r.ID), temporalRunID); err != nil {
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	if err := a.Store.AddRunExecution(ctx, &models.RunExecution{RunID: r.ID, TemporalRunID: temporalRunID,
		Reason: "start", Actor: r.Initiator}); err != nil {
		return workflows.StartRunResult{}, fmt.Errorf("start run %s: %w", r.ID, err)
	}
	// The fire and the backfill alert on the rules the run started with.
	return workflows.StartRunResult{Started: true, Alerts: req.Input.Alerts}, nil
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
