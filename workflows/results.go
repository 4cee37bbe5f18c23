package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/status"
)

// Results: the run's outcome, its result and the state query's view.

// outcome is the run's status once it has settled.
func (r *runner) outcome() status.Run {
	if r.closed || r.runStatus == status.RunRollbackFailed {
		return r.runStatus
	}
	switch r.halted {
	case "timeout":
		return status.RunTimeout
	case "stop":
		return status.RunStopped
	}
	var core, coreOK int
	unhandled := false
	for _, n := range r.nodes {
		if n.node.Core {
			core++
			if n.status == status.NodeSuccess {
				coreOK++
			}
		}
		if failedStatus(n.status) && !r.g.FailureHandled(n.node.ID) {
			unhandled = true
		}
	}
	switch {
	case core > 0 && coreOK == core:
		return status.RunSuccess
	case core > 0, unhandled:
		return status.RunFailed
	default:
		return status.RunSuccess
	}
}

// finish ends a run of the first version: it closes as soon as it settles.
func (r *runner) finish(final status.Run) (RunResult, error) {
	r.setRun(final, "")
	r.flush()
	r.upsertStatus()
	return r.result(), nil
}

func (r *runner) result() RunResult {
	res := RunResult{Status: string(r.runStatus), Nodes: map[string]NodeResult{}}
	for _, n := range r.nodes {
		res.Nodes[n.node.ID] = NodeResult{Status: string(n.status), Attempts: n.attempts, Outputs: n.outputs, Message: n.message}
	}
	return res
}

func (r *runner) upsertStatus() {
	err := workflow.UpsertTypedSearchAttributes(r.ctx, SearchStatus.ValueSet(string(r.runStatus)))
	if err != nil {
		r.log.Info("upsert search attributes failed", "error", err)
	}
}

func (r *runner) view() (control.View, error) {
	v := control.View{Status: string(r.runStatus), Nodes: make([]control.NodeView, 0, len(r.nodes)), Rev: r.rev,
		// A write the worker queued (write-behind) may not have landed yet:
		// its transitions are on their way too.
		Unsent: r.in.Mirror && (r.queuedBehind || (r.batch != nil && !r.batch.empty()))}
	for _, n := range r.nodes {
		nv := control.NodeView{ID: n.node.ID, Status: string(n.status), Forced: n.forced, Attempts: n.attempts,
			Ran: n.ran(), Message: n.message, Outputs: n.outputs}
		for _, s := range n.shards {
			nv.Instances = append(nv.Instances, control.InstanceView{ID: s.id, Shard: s.index, Attempt: s.attempt,
				Status: string(s.status), WorkerID: s.workerID, StartedAt: s.times.started, FinishedAt: s.times.finished})
		}
		v.Nodes = append(v.Nodes, nv)
	}
	return v, nil
}
