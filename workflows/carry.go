package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/baton-sched/baton/internal/status"
)

// Carry-over: the run continues as new at its history limits, handing its
// state to the next execution.

func (r *runner) historyFull() bool {
	limit := r.in.HistoryLimit
	if limit <= 0 {
		limit = defaultHistoryLimit
	}
	info := workflow.GetInfo(r.ctx)
	if r.version >= versionOwnLimits {
		return info.GetCurrentHistoryLength() >= limit || info.GetCurrentHistorySize() >= historySizeLimit
	}
	return info.GetCurrentHistoryLength() >= limit || info.GetContinueAsNewSuggested()
}

func (r *runner) restore(c *Carry) {
	r.rev, r.startedAt, r.deadline = c.Rev, c.StartedAt, c.Deadline
	r.revMillis, r.revSeq = c.RevMillis, c.RevSeq
	r.runStatus, r.paused = status.RunRunning, c.Paused
	for _, cn := range c.Nodes {
		n := r.byID[cn.ID]
		if n == nil {
			continue
		}
		n.status, n.forced, n.attempts, n.outputs, n.message = status.Node(cn.Status), cn.Forced, cn.Attempts, cn.Outputs, cn.Message
		n.rev, n.startedAt, n.finishedAt, n.queued = cn.Rev, cn.StartedAt, cn.FinishedAt, cn.Queued
		n.lastStatus = n.status
		for _, s := range cn.Shards {
			n.shards = append(n.shards, &shard{index: s.Index, param: s.Param, attempt: s.Attempt, lost: s.Lost,
				queue: s.Queue, workerID: s.WorkerID, id: s.ID, status: status.Instance(s.Status)})
		}
		if len(cn.Shards) == 0 && cn.Total > 0 {
			// Carried by an older interpreter that kept counts only.
			for i := 0; i < cn.Total; i++ {
				st := status.InstanceWaiting
				if i < cn.Total-cn.Remaining {
					st = status.InstanceFailed
					if i < cn.Succeeded {
						st = status.InstanceSuccess
					}
				}
				n.shards = append(n.shards, &shard{index: i, attempt: cn.Attempts, status: st})
			}
		}
		if n.status == status.NodeWaiting {
			r.candidates.add(n.idx)
		}
		if len(n.queued) > 0 {
			r.queue = append(r.queue, n)
		}
	}
}

func (r *runner) continueAsNew() error {
	c := &Carry{Rev: r.rev, RevMillis: r.revMillis, RevSeq: r.revSeq, StartedAt: r.startedAt, Deadline: r.deadline,
		Paused: r.paused, Version: int(r.version), Alerts: r.carryAlerts()}
	for _, n := range r.nodes {
		cn := CarriedNode{ID: n.node.ID, Status: string(n.status), Forced: n.forced, Attempts: n.attempts, Outputs: n.outputs,
			Message: n.message, Rev: n.rev, StartedAt: n.startedAt, FinishedAt: n.finishedAt, Queued: n.queued}
		for _, s := range n.shards {
			cn.Shards = append(cn.Shards, CarriedShard{Index: s.index, Param: s.param, Attempt: s.attempt, Lost: s.lost,
				Queue: s.queue, WorkerID: s.workerID, ID: s.id, Status: string(s.status)})
		}
		c.Nodes = append(c.Nodes, cn)
	}
	next := r.in
	next.Carry = c
	return workflow.NewContinueAsNewError(r.ctx, RunWorkflowName, next)
}
