package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/quartz"
	"github.com/baton-sched/baton/workflows"
)

// ScheduleDef is what a task's or flow's schedule is made from: its
// current version and whether it is enabled.
type ScheduleDef struct {
	Kind           string // task | flow
	DefinitionID   string
	DefinitionName string
	Version        int
	Group          string
	Flow           dag.Flow // resolved snapshot of Version
	Params         map[string]string
	Trigger        *dag.Trigger
	Enabled        bool
	// Deleted definitions lose their schedule; their running runs go on.
	Deleted        bool
	OperableWindow time.Duration
}

// Overlap policy names as triggers spell them (docs/operations.md,
// "Triggers and schedules").
var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"":                enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer_one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer_all":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"allow_all":       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
	"cancel_other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate_other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
}

// OverlapPolicies lists the overlap names a trigger may use, in the
// order documentation shows them.
var OverlapPolicies = []string{"skip", "buffer_one", "buffer_all", "allow_all", "cancel_other", "terminate_other"}

// ScheduleSpec compiles a trigger; nil means the trigger does not fire on
// its own (manual, api, flow, or none).
func ScheduleSpec(t *dag.Trigger) (*client.ScheduleSpec, error) {
	if t == nil {
		return nil, nil
	}
	switch t.Type {
	case dag.TriggerCron:
		expr, err := quartz.Parse(t.Cron)
		if err != nil {
			return nil, err
		}
		return quartz.Compile(expr, t.Timezone)
	case dag.TriggerFixedRate:
		spec, err := quartz.FixedRateSpec(t.Interval.MustStd(), t.Phase.MustStd())
		if err != nil {
			return nil, err
		}
		return &spec, nil
	}
	return nil, nil
}

// SyncSchedule makes the definition's Temporal schedule match it: created
// or updated with the new version, paused while disabled, deleted when the
// trigger no longer fires on its own or the definition was deleted. Runs
// already started keep their version.
func (e *Engine) SyncSchedule(ctx context.Context, d ScheduleDef) error {
	id := workflows.ScheduleID(d.Kind, d.DefinitionID)
	h := e.Client.ScheduleClient().GetHandle(ctx, id)
	var spec *client.ScheduleSpec
	if !d.Deleted {
		// A deleted definition's trigger is not compiled: it may not even
		// compile any more, and its schedule goes regardless.
		var err error
		if spec, err = ScheduleSpec(d.Trigger); err != nil {
			return fmt.Errorf("schedule %s: %w", id, err)
		}
	}
	if spec == nil {
		if err := h.Delete(ctx); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete schedule %s: %w", id, err)
		}
		return nil
	}
	overlap, ok := overlapPolicies[d.Trigger.Overlap]
	if !ok {
		return fmt.Errorf("schedule %s: unknown overlap policy %q", id, d.Trigger.Overlap)
	}
	window := ""
	if d.OperableWindow > 0 {
		window = d.OperableWindow.String()
	}
	action := &client.ScheduleWorkflowAction{
		ID:        "baton-fire-" + d.Kind + "-" + d.DefinitionID,
		Workflow:  workflows.FireWorkflowName,
		TaskQueue: workflows.FlowsTaskQueue,
		Args: []any{workflows.FireInput{Kind: d.Kind, DefinitionID: d.DefinitionID, DefinitionName: d.DefinitionName,
			Version: d.Version, Group: d.Group, Flow: d.Flow, Params: d.Params, Trigger: d.Trigger.Type,
			Cron: d.Trigger.Cron, Timezone: d.Trigger.Timezone, Mirror: true, OperableWindow: dag.Duration(window),
			Overlap: d.Trigger.Overlap, PauseOnFailure: d.Trigger.PauseOnFailure}},
	}
	catchup := d.Trigger.CatchupWindow.MustStd()
	note := fmt.Sprintf("baton %s %s version %d", d.Kind, d.DefinitionID, d.Version)
	_, err := e.Client.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: id, Spec: *spec, Action: action, Overlap: overlap, CatchupWindow: catchup,
		PauseOnFailure: d.Trigger.PauseOnFailure, Paused: !d.Enabled, Note: note,
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create schedule %s: %w", id, err)
	}
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		s.Spec, s.Action = spec, action
		if s.Policy == nil {
			s.Policy = &client.SchedulePolicies{}
		}
		s.Policy.Overlap, s.Policy.CatchupWindow, s.Policy.PauseOnFailure = overlap, catchup, d.Trigger.PauseOnFailure
		if s.State == nil {
			s.State = &client.ScheduleState{}
		}
		s.State.Paused, s.State.Note = !d.Enabled, note
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return fmt.Errorf("update schedule %s: %w", id, err)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// PauseSchedule pauses a schedule with a note saying why; a schedule that
// no longer exists is not an error (its definition was deleted meanwhile).
func (e *Engine) PauseSchedule(ctx context.Context, scheduleID, note string) error {
	err := e.Client.ScheduleClient().GetHandle(ctx, scheduleID).Pause(ctx, client.SchedulePauseOptions{Note: note})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("pause schedule %s: %w", scheduleID, err)
	}
	return nil
}
