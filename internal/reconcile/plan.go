package reconcile

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// Actor is who the transition log names for the reconciler's repairs.
const Actor = "reconciler"

// Truth is Temporal's view of one run.
type Truth struct {
	View control.View
	// Message explains a status the reconciler derived rather than read
	// (a workflow terminated from outside Baton, a start that never happened).
	Message       string
	TemporalRunID string
	// Closed: the workflow has ended, so nothing it held unsent will ever
	// be written by it.
	Closed bool
}

// Plan is what one run needs to match its workflow again.
type Plan struct {
	// Batch holds the repairs, written with ApplyMirror.
	Batch models.MirrorBatch
	// Repairs says what differs, one line each.
	Repairs []string
	// Behind lists rows newer than the view (the workflow wrote them after
	// it answered); they are left alone and looked at again next pass.
	Behind []string
}

// Empty reports whether the run needs no write.
func (p Plan) Empty() bool { return len(p.Repairs) == 0 }

// Diff lists every difference between the mirror and the truth, rows
// newer than the view included: after convergence it is empty.
func Diff(m models.RunMirror, t Truth) []string {
	p := NewPlan(m, t, time.Time{})
	return append(p.Repairs, p.Behind...)
}

// NewPlan compares a run's mirror with its workflow's view and plans the
// repair. The mirror is read before the view is taken (and read again
// after it when there is something to repair): a row whose rev is at most
// the view's rev carries no state newer than the view, since the run had
// issued that rev when it answered, so the view supersedes it; a row
// written after the answer has a higher rev and is left Behind.
//
// Every existing row is rewritten at its own stored rev, so the write wins
// only if nothing newer landed in between (the upsert keeps the higher
// rev). Missing rows are recreated at rev 0, so any write the engine
// issues afterwards supersedes them. Equal-rev lag the engine itself
// causes is not a difference: the worker marks a node and an instance
// running at the revision of their dispatch, which the view still reports
// as dispatched and waiting.
func NewPlan(m models.RunMirror, t Truth, now time.Time) Plan {
	v := t.View
	p := Plan{Batch: models.MirrorBatch{RunID: m.Run.ID}}
	last := lastStatuses(m.Transitions)
	var unlogged []string
	var transitions []models.Transition
	logged := func(entity, id, truth string, same func(logged, truth string) bool) {
		key := entity + "/" + id
		if same(last[key], truth) {
			return
		}
		unlogged = append(unlogged, fmt.Sprintf("%s %s: transition log ends in %q, not %q", entity, id, last[key], truth))
		transitions = append(transitions, models.Transition{RunID: m.Run.ID, Entity: entity,
			EntityID: id, FromStatus: last[key], ToStatus: truth, Actor: Actor,
			Reason: "mirror repair: the transition log missed this change", At: now})
	}

	run := m.Run
	if run.Status != v.Status || (run.TemporalRunID == "" && t.TemporalRunID != "") {
		if run.Rev > v.Rev {
			p.Behind = append(p.Behind, fmt.Sprintf("run %s: row rev %d is newer than the view's %d", run.ID, run.Rev, v.Rev))
		} else {
			u := &models.RunUpdate{Status: v.Status, Rev: run.Rev, TemporalRunID: t.TemporalRunID, Message: t.Message}
			if status.Run(v.Status).Terminal() && run.FinishedAt == nil && !now.IsZero() {
				u.FinishedAt = &now
			}
			p.Batch.Run = u
			if run.Status != v.Status {
				p.Repairs = append(p.Repairs, fmt.Sprintf("run %s: status %q, workflow says %q", run.ID, run.Status, v.Status))
			} else {
				p.Repairs = append(p.Repairs, fmt.Sprintf("run %s: no temporal run id", run.ID))
			}
		}
	}
	logged("run", run.ID, v.Status, equal)

	nodes := make(map[string]models.NodeRun, len(m.Nodes))
	for _, n := range m.Nodes {
		nodes[n.NodeID] = n
	}
	insts := make(map[string]models.Instance, len(m.Instances))
	for _, in := range m.Instances {
		insts[in.ID] = in
	}
	for _, nv := range v.Nodes {
		want := models.NodeUpdate{NodeID: nv.ID, Status: nv.Status, Forced: nv.Forced, Attempts: nv.Attempts,
			Outputs: nv.Outputs, Message: nv.Message}
		row, found := nodes[nv.ID]
		if write, rev := p.decide("node "+nv.ID, found, row.Rev, v.Rev, func() string { return nodeDiff(row, nv) }); write {
			want.Rev = rev
			p.Batch.Nodes = append(p.Batch.Nodes, want)
		}
		logged("node", nv.ID, nv.Status, nodeSame)

		for _, iv := range nv.Instances {
			if iv.ID == "" {
				continue
			}
			want := models.InstanceUpdate{ID: iv.ID, NodeID: nv.ID, ShardIndex: iv.Shard, Attempt: iv.Attempt,
				WorkerID: iv.WorkerID, Status: iv.Status}
			row, found := insts[iv.ID]
			diff := func() string {
				if instanceSame(row.Status, iv.Status) {
					return ""
				}
				return fmt.Sprintf("status %q, workflow says %q", row.Status, iv.Status)
			}
			if write, rev := p.decide("instance "+iv.ID, found, row.Rev, v.Rev, diff); write {
				want.Rev = rev
				p.Batch.Instances = append(p.Batch.Instances, want)
			}
			if iv.Status != string(status.InstanceWaiting) {
				// A new instance's waiting record is not logged.
				logged("instance", iv.ID, iv.Status, instanceSame)
			}
		}
	}
	switch {
	case len(p.Behind) > 0:
		// With a row newer than the view, the view may be older than the
		// log too: nothing is appended to it from a stale view.
	case v.Unsent && !t.Closed:
		// The workflow's own write, on its way or held until the database
		// answers, carries these transitions: appending them now would log
		// each twice. The rows are repaired; the log waits for the run.
		for _, u := range unlogged {
			p.Behind = append(p.Behind, u+" (the run has not written it yet)")
		}
	default:
		p.Repairs = append(p.Repairs, unlogged...)
		p.Batch.Transitions = transitions
	}
	return p
}

// decide settles one node or instance row: a missing row is recreated at
// rev 0, a row newer than the view is left alone, and a row that differs
// is rewritten at its own rev. It says whether to write, and at which rev.
func (p *Plan) decide(what string, found bool, rowRev, viewRev int64, diff func() string) (bool, int64) {
	switch {
	case !found:
		p.Repairs = append(p.Repairs, what+": row missing")
		return true, 0
	case rowRev > viewRev:
		p.Behind = append(p.Behind, fmt.Sprintf("%s: row rev %d is newer than the view's %d", what, rowRev, viewRev))
		return false, 0
	}
	if d := diff(); d != "" {
		p.Repairs = append(p.Repairs, what+": "+d)
		return true, rowRev
	}
	return false, 0
}

// nodeDiff says how a stored node differs from the view ("" if it does
// not). A message or outputs the view does not carry is not compared: the
// mirror keeps the last non-empty one.
func nodeDiff(row models.NodeRun, nv control.NodeView) string {
	switch {
	case !nodeSame(row.Status, nv.Status):
		return fmt.Sprintf("status %q, workflow says %q", row.Status, nv.Status)
	case row.Attempts != nv.Attempts:
		return fmt.Sprintf("attempts %d, workflow says %d", row.Attempts, nv.Attempts)
	case row.Forced != nv.Forced:
		return fmt.Sprintf("forced %t, workflow says %t", row.Forced, nv.Forced)
	case nv.Message != "" && row.Message != nv.Message:
		return fmt.Sprintf("message %q, workflow says %q", row.Message, nv.Message)
	case len(nv.Outputs) > 0 && !sameOutputs(row.Outputs, nv.Outputs):
		return fmt.Sprintf("outputs %s differ from the workflow's", row.Outputs)
	}
	return ""
}

func sameOutputs(stored string, want map[string]string) bool {
	var got map[string]string
	if json.Unmarshal([]byte(stored), &got) != nil {
		return false
	}
	return maps.Equal(got, want)
}

func equal(stored, truth string) bool { return stored == truth }

// nodeSame: a dispatched node the worker has picked up is running in the
// mirror and still dispatched in the workflow.
func nodeSame(stored, truth string) bool {
	return stored == truth || (truth == string(status.NodeDispatched) && stored == string(status.NodeRunning))
}

// instanceSame: likewise, a started instance is running in the mirror and
// still waiting in the workflow.
func instanceSame(stored, truth string) bool {
	return stored == truth || (truth == string(status.InstanceWaiting) && stored == string(status.InstanceRunning))
}

// lastStatuses maps "entity/id" to the status its last logged transition
// ends in; the log is in time order.
func lastStatuses(ts []models.Transition) map[string]string {
	out := make(map[string]string, len(ts))
	for _, t := range ts {
		out[t.Entity+"/"+t.EntityID] = t.ToStatus
	}
	return out
}
