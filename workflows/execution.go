package workflows

import (
	"go.temporal.io/sdk/workflow"
)

// Instances of a reset execution (rerun-from-node).
//
// A Temporal reset starts a new execution of the run's workflow from a
// point of its history, and that execution numbers its instances from
// where the history it copied left off: from attempt 1 again when the
// reset point is the node's first dispatch. Its instances must not take
// the ids (mirror rows, log chunks, BATON_INSTANCE_ID) of the execution it
// replaced, so they carry the execution in a suffix.
//
// Before versionExecutionIDs the suffix was given to instances dispatched
// while the workflow was not replaying, which is not deterministic: a
// replay of the reset execution (a state query on an evicted workflow, a
// worker restart) named the same instances without it, so the run's view
// and its later writes disagreed with the rows it had written (fault case
// 10: a row left running, another missing).

// executionMarker is the MutableSideEffect that records which execution
// dispatches: its value changes, and so is recorded again, only in the
// first workflow task of a reset execution that dispatches.
const executionMarker = "instance-execution"

// executionSuffix is what the instance ids of this dispatch carry: "" in
// the execution that started the run or continued it as new, and
// "~<first 8 characters of the Temporal run id>" in an execution made by
// a reset, from the first instance it dispatched itself. The execution is
// read through a MutableSideEffect, so a replay of history copied from
// the execution the reset replaced reads that execution's id, as it did
// when it ran, and every replay of the reset execution reads its own.
func (r *runner) executionSuffix() string {
	info := workflow.GetInfo(r.ctx)
	v := workflow.MutableSideEffect(r.ctx, executionMarker, func(ctx workflow.Context) any {
		return workflow.GetInfo(ctx).WorkflowExecution.RunID
	}, func(a, b any) bool { return a == b })
	var run string
	// An execution that names no original (the SDK's test environment) was
	// not made by a reset.
	if err := v.Get(&run); err != nil || run == "" || info.OriginalRunID == "" || run == info.OriginalRunID {
		return ""
	}
	return ExecutionSuffix(run)
}

// resetNote lists the instances this execution still waits for when it
// first writes: those dispatched before the reset point and not finished
// there, which Temporal schedules again under their ids.
func (r *runner) resetNote() *ResetNote {
	note := &ResetNote{}
	for _, n := range r.nodes {
		for _, s := range n.shards {
			if s.id != "" && !s.status.Terminal() {
				note.Live = append(note.Live, s.id)
			}
		}
	}
	return note
}
