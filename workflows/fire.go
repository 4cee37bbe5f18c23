package workflows

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/quartz"
	"github.com/baton-sched/baton/internal/status"
)

// FireInput is the action of a task's or flow's Temporal schedule: the
// definition version the schedule was last updated with.
type FireInput struct {
	Kind           string            `json:"kind"`
	DefinitionID   string            `json:"definition_id"`
	DefinitionName string            `json:"definition_name"`
	Version        int               `json:"version"`
	Group          string            `json:"group"`
	Flow           dag.Flow          `json:"flow"`
	Params         map[string]string `json:"params,omitempty"`
	Trigger        string            `json:"trigger"` // cron | fixed_rate
	Cron           string            `json:"cron,omitempty"`
	Timezone       string            `json:"timezone,omitempty"`
	Mirror         bool              `json:"mirror"`
	OperableWindow dag.Duration      `json:"operable_window,omitempty"`
	// Overlap is the schedule's overlap policy; the fire acts on
	// terminate_other itself (see FireWorkflow).
	Overlap string `json:"overlap,omitempty"`
	// PauseOnFailure pauses the schedule when the run ends unsuccessful.
	// Temporal's own pause-on-failure covers the other policies, but it
	// does not follow allow_all fires at all, so the fire pauses it too.
	PauseOnFailure bool `json:"pause_on_failure,omitempty"`
}

// Registered names of the fire's activities.
const (
	// ActiveFiredRunsActivity lists the runs of a definition that schedule
	// fires started and that have not ended.
	ActiveFiredRunsActivity = "baton.ActiveFiredRuns"
	// PauseScheduleActivity pauses a schedule (PauseScheduleRequest).
	PauseScheduleActivity = "baton.PauseSchedule"
)

// PauseScheduleRequest names the schedule to pause and why.
type PauseScheduleRequest struct {
	ScheduleID string `json:"schedule_id"`
	Note       string `json:"note"`
}

// OverlapTerminateOther is the overlap policy under which a new fire stops
// the runs earlier fires started.
const OverlapTerminateOther = "terminate_other"

// ActiveFiredRunsRequest names the definition whose fired runs to list.
type ActiveFiredRunsRequest struct {
	Kind         string `json:"kind"`
	DefinitionID string `json:"definition_id"`
}

// Changes to FireWorkflow (see change).
var (
	changeFireTerminates = newChange(FireWorkflowName, "fire-terminate-other", 1)
	changeFirePauses     = newChange(FireWorkflowName, "fire-pause-on-failure", versionFireAlertsPause)
)

// versionFireAlertsPause: a pause on failure sends schedule_paused to the
// channels of the run's rules (StartRunResult.Alerts).
const versionFireAlertsPause = 2

// ScheduleID names the Temporal schedule of a task or flow.
func ScheduleID(kind, definitionID string) string { return "baton-" + kind + "-" + definitionID }

// errRunUnsuccessful fails the fire so the schedule's pause-on-failure
// sees it.
var errRunUnsuccessful = errors.New("run did not succeed")

// FireWorkflow is one firing of a schedule: it starts the run (trigger
// cron or fixed_rate, bizdate = the scheduled time's date in the trigger's
// time zone) and lasts until the run reaches a final status, so the
// schedule's overlap policy applies to runs, not to workflows that stay
// open for operations.
func FireWorkflow(ctx workflow.Context, in FireInput) error {
	info := workflow.GetInfo(ctx)
	fire := workflow.Now(ctx)
	if t, ok := workflow.GetTypedSearchAttributes(ctx).GetTime(temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime")); ok {
		fire = t
	}
	// A zone that does not load leaves UTC here, as recorded histories
	// did; the StartRun activity refuses it, so no run starts on a UTC
	// bizdate by mistake.
	loc, err := quartz.LoadLocation(in.Timezone)
	if err != nil {
		loc = time.UTC
	}
	bizdate := fire.In(loc).Format("2006-01-02")
	id := in.DefinitionID
	if len(id) > 40 {
		id = id[:40]
	}
	runID := fmt.Sprintf("%s-%s", id, fire.UTC().Format("20060102T150405Z"))
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second, MaximumAttempts: 10},
	})
	req := StartRunRequest{
		Record: RunRecord{ID: runID, Kind: in.Kind, DefinitionID: in.DefinitionID, DefinitionName: in.DefinitionName,
			Version: in.Version, Group: in.Group, Trigger: in.Trigger, Bizdate: bizdate, Params: in.Params, Initiator: "schedule"},
		Input: RunInput{RunID: runID, Kind: in.Kind, DefinitionID: in.DefinitionID, Version: in.Version, Trigger: in.Trigger,
			Bizdate: bizdate, Params: in.Params, Flow: in.Flow, Mirror: in.Mirror, OperableWindow: in.OperableWindow,
			Notify: info.WorkflowExecution.ID, ScheduledAt: &fire},
		Cron: in.Cron, Timezone: in.Timezone, FireTime: fire,
	}
	if in.Overlap == OverlapTerminateOther &&
		changeFireTerminates.get(ctx) >= 1 {
		stopEarlierRuns(ctx, actx, in, runID)
	}
	var res StartRunResult
	if err := workflow.ExecuteActivity(actx, StartRunActivity, req).Get(ctx, &res); err != nil {
		return fmt.Errorf("start scheduled run %s: %w", runID, err)
	}
	if !res.Started {
		workflow.GetLogger(ctx).Info("scheduled run not started", "run", runID, "reason", res.Reason)
		return nil
	}
	var ended RunEnded
	cancelled := false
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, SignalRunEnded), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &ended) })
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) { cancelled = true })
	sel.Select(ctx)
	if cancelled {
		// The schedule's cancel_other policy cancelled this fire: a newer
		// one replaces its run, so the run is stopped, as an operator would.
		dctx, cancel := workflow.NewDisconnectedContext(ctx)
		defer cancel()
		stop := control.Request{ID: "fire-cancel-" + runID, Op: status.OpStop, Actor: "schedule"}
		if err := workflow.SignalExternalWorkflow(dctx, WorkflowID(runID), "", SignalControl, stop).Get(dctx, nil); err != nil {
			workflow.GetLogger(ctx).Info("stop of cancelled fire's run failed", "run", runID, "error", err)
		}
		return temporal.NewCanceledError("replaced by a newer fire")
	}
	if ended.Status != string(status.RunSuccess) {
		if in.PauseOnFailure {
			if v := changeFirePauses.get(ctx); v >= 1 {
				pauseOnFailure(ctx, actx, in, req.Record, ended, res.Alerts, v)
			}
		}
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("run %s ended %s", runID, ended.Status), "RunUnsuccessful", errRunUnsuccessful)
	}
	return nil
}

// stopEarlierRuns carries out terminate_other. Temporal terminates the
// earlier fire workflow, which cannot act on it, and the run that fire
// started is a workflow of its own that would go on. So the new fire stops
// every run earlier fires of the definition left running, as an operator
// would, before starting its own. Failures are logged, not fatal: the new
// run must still start.
func stopEarlierRuns(ctx, actx workflow.Context, in FireInput, own string) {
	log := workflow.GetLogger(ctx)
	var ids []string
	req := ActiveFiredRunsRequest{Kind: in.Kind, DefinitionID: in.DefinitionID}
	if err := workflow.ExecuteActivity(actx, ActiveFiredRunsActivity, req).Get(ctx, &ids); err != nil {
		log.Info("terminate_other: listing earlier runs failed", "error", err)
		return
	}
	var pending []workflow.Future
	for _, id := range ids {
		if id == own {
			continue
		}
		stop := control.Request{ID: "fire-terminate-" + id, Op: status.OpStop, Actor: "schedule",
			Reason: "terminate_other: replaced by the fire of " + own}
		pending = append(pending, workflow.SignalExternalWorkflow(ctx, WorkflowID(id), "", SignalControl, stop))
	}
	for i, f := range pending {
		if err := f.Get(ctx, nil); err != nil {
			log.Info("terminate_other: stop of an earlier run failed", "index", i, "error", err)
		}
	}
}

// pauseOnFailure pauses the schedule of a fire whose run ended
// unsuccessful and, from versionFireAlertsPause on, sends schedule_paused
// to the rules' channels, waiting for the delivery before the fire ends.
func pauseOnFailure(ctx, actx workflow.Context, in FireInput, run RunRecord, ended RunEnded, rules []dag.AlertRule, v workflow.Version) {
	id := ScheduleID(in.Kind, in.DefinitionID)
	req := PauseScheduleRequest{ScheduleID: id, Note: fmt.Sprintf("paused on failure: run %s ended %s", run.ID, ended.Status)}
	if err := workflow.ExecuteActivity(actx, PauseScheduleActivity, req).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Info("pause on failure failed", "run", run.ID, "error", err)
		return
	}
	if v < versionFireAlertsPause {
		return
	}
	var a alerter
	a.send(ctx, AlertEvent{Event: dag.AlertSchedulePaused, Key: id, Channels: channelsFor(rules, dag.AlertSchedulePaused),
		RunID: run.ID, Kind: run.Kind, DefinitionID: run.DefinitionID, DefinitionName: run.DefinitionName,
		Version: run.Version, Group: run.Group, Trigger: run.Trigger, Bizdate: run.Bizdate, Status: ended.Status,
		ScheduleID: id})
	a.await(ctx, alertScheduleToClose+time.Minute)
}
