package control

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// Request is one control operation, as the API sends it to the workflow.
type Request struct {
	// ID identifies the request (the Idempotency-Key when given): a repeat
	// of a processed ID has no second effect.
	ID       string    `json:"id"`
	Op       status.Op `json:"op"`
	Nodes    []string  `json:"nodes,omitempty"`
	Instance string    `json:"instance,omitempty"`
	Actor    string    `json:"actor,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// View is a run's live state as the workflow reports it.
type View struct {
	Status string     `json:"status"`
	Nodes  []NodeView `json:"nodes"`
	// Rev is the latest mirror revision the run had issued when it answered:
	// a mirror row with a rev at most this is no newer than the view, so the
	// reconciler may repair it from the view.
	Rev int64 `json:"rev,omitempty"`
	// Unsent says the run holds mirror changes it has not written yet (a
	// write in progress, one kept after the database failed, or one its
	// worker's write-behind queue has not applied yet): its own
	// write will bring their transitions, so the reconciler must not log
	// them in its place (they would be logged twice).
	Unsent bool `json:"unsent,omitempty"`
}

// NodeView is one node's live state.
type NodeView struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Forced   bool   `json:"forced,omitempty"`
	Attempts int    `json:"attempts"`
	Ran      bool   `json:"ran"`
	Message  string `json:"message,omitempty"`
	// Outputs lets the reconciler recreate a lost node row whole.
	Outputs    map[string]string `json:"outputs,omitempty"`
	Instances  []InstanceView    `json:"instances,omitempty"`
	StartedAt  *string           `json:"started_at,omitempty"`
	FinishedAt *string           `json:"finished_at,omitempty"`
}

// InstanceView is one instance's live state.
type InstanceView struct {
	ID       string `json:"id"`
	Shard    int    `json:"shard"`
	Attempt  int    `json:"attempt"`
	Status   string `json:"status"`
	WorkerID string `json:"worker_id,omitempty"`
	// StartedAt and FinishedAt are the finished instance's times as the
	// workflow heard them, for the reconciler to fill in a row whose own
	// writes were lost (the database down until the run ended).
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Offender names a node or instance that blocks a request.
type Offender struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// Conflict is a refusal: the API answers it with 409 (404 for unknown
// nodes or instances).
type Conflict struct {
	Code      string     `json:"code"`
	Message   string     `json:"message"`
	Offending []Offender `json:"offending,omitempty"`
}

func (c *Conflict) Error() string { return c.Message }

// Refusal codes.
const (
	CodeRunNotOperable  = "run_not_operable"
	CodeNodeNotEligible = "node_not_eligible"
	CodeUnknownNode     = "unknown_node"
	CodeUnknownInstance = "unknown_instance"
	CodeBadRequest      = "bad_request"
)

// Plan is what an allowed request touches, in the order it will act.
type Plan struct {
	Nodes     []string `json:"nodes,omitempty"`
	Instances []string `json:"instances,omitempty"`
}

// runOpenFor lists the run statuses in which node and instance operations
// make sense: the workflow is open and not rolling back or abandoned.
var runOpenFor = []status.Run{status.RunRunning, status.RunPaused, status.RunFailed, status.RunStopped, status.RunTimeout, status.RunWaiting}

// Check decides a request against the run's state and flow graph.
func Check(g *dag.Graph, v View, req Request) (Plan, *Conflict) {
	run := status.Run(v.Status)
	byID := make(map[string]*NodeView, len(v.Nodes))
	for i := range v.Nodes {
		byID[v.Nodes[i].ID] = &v.Nodes[i]
	}
	switch req.Op {
	case status.OpStop, status.OpPause, status.OpResume, status.OpRetryFailed, status.OpRollback, status.OpAbandon:
		if ok, allowed := status.RunOpAllowed(req.Op, run); !ok {
			return Plan{}, &Conflict{Code: CodeRunNotOperable,
				Message: fmt.Sprintf("cannot %s a run that is %s (allowed when %s)", req.Op, run, joinRuns(allowed))}
		}
		return runPlan(g, v, req.Op), nil
	case status.OpNodeStop, status.OpNodePause, status.OpNodeResume, status.OpNodeRetry, status.OpNodeSkip, status.OpRerunDownstream:
		if !slices.Contains(runOpenFor, run) {
			return Plan{}, &Conflict{Code: CodeRunNotOperable,
				Message: fmt.Sprintf("cannot %s nodes of a run that is %s", req.Op, run)}
		}
		if len(req.Nodes) == 0 {
			return Plan{}, &Conflict{Code: CodeBadRequest, Message: "no nodes chosen"}
		}
		var unknown, offending []Offender
		var cond string
		for _, id := range req.Nodes {
			n := byID[id]
			if n == nil {
				unknown = append(unknown, Offender{ID: id})
				continue
			}
			if nd := g.Node(id); nd != nil && nd.IsLogic() {
				offending = append(offending, Offender{ID: id, Status: n.Status + " (logic node)"})
				continue
			}
			ok, c := status.NodeOpAllowed(req.Op, status.NodeState{Status: status.Node(n.Status), Ran: n.Ran})
			cond = c
			if !ok {
				offending = append(offending, Offender{ID: id, Status: n.Status})
			}
		}
		if len(unknown) > 0 {
			return Plan{}, &Conflict{Code: CodeUnknownNode, Offending: unknown,
				Message: "no such node in this run: " + joinOffenders(unknown, false)}
		}
		if len(offending) > 0 {
			return Plan{}, &Conflict{Code: CodeNodeNotEligible, Offending: offending,
				Message: fmt.Sprintf("the selection contains nodes not eligible to %s: %s (allowed when %s)",
					req.Op, joinOffenders(offending, true), cond)}
		}
		return Plan{Nodes: topoSorted(g, req.Nodes)}, nil
	case status.OpInstanceStop, status.OpInstanceRerun:
		if !slices.Contains(runOpenFor, run) {
			return Plan{}, &Conflict{Code: CodeRunNotOperable, Message: fmt.Sprintf("cannot %s of a run that is %s", req.Op, run)}
		}
		for _, n := range v.Nodes {
			for _, in := range n.Instances {
				if in.ID != req.Instance {
					continue
				}
				if req.Op == status.OpInstanceRerun && !status.Node(n.Status).Terminal() {
					return Plan{}, &Conflict{Code: CodeNodeNotEligible, Offending: []Offender{{ID: n.ID, Status: n.Status}},
						Message: fmt.Sprintf("node %s is %s: rerun an instance once its node has finished", n.ID, n.Status)}
				}
				if ok, cond := status.InstanceOpAllowed(req.Op, status.Instance(in.Status)); !ok {
					return Plan{}, &Conflict{Code: CodeNodeNotEligible, Offending: []Offender{{ID: in.ID, Status: in.Status}},
						Message: fmt.Sprintf("instance %s is %s (allowed when %s)", in.ID, in.Status, cond)}
				}
				return Plan{Nodes: []string{n.ID}, Instances: []string{in.ID}}, nil
			}
		}
		return Plan{}, &Conflict{Code: CodeUnknownInstance, Message: "no such instance in this run: " + req.Instance}
	}
	return Plan{}, &Conflict{Code: CodeBadRequest, Message: fmt.Sprintf("unknown operation %q", req.Op)}
}

func runPlan(g *dag.Graph, v View, op status.Op) Plan {
	var p Plan
	for _, n := range orderedViews(g, v) {
		st := status.Node(n.Status)
		switch op {
		case status.OpStop:
			// Nodes that never started stay waiting (not run); only running
			// work is stopped.
			if st == status.NodeDispatched || st == status.NodeRunning {
				p.Nodes = append(p.Nodes, n.ID)
			}
		case status.OpRetryFailed:
			if st == status.NodeFailed || st == status.NodeStopped || st == status.NodeTimeout {
				p.Nodes = append(p.Nodes, n.ID)
			}
		case status.OpRollback:
			if t := g.Node(n.ID).Task; n.Ran && t != nil && t.Rollback != nil && st != status.NodeRolledBack {
				p.Nodes = append(p.Nodes, n.ID)
			}
		}
	}
	if op == status.OpRollback {
		slices.Reverse(p.Nodes) // reverse topological order, back to the root
	}
	return p
}

func orderedViews(g *dag.Graph, v View) []NodeView {
	out := slices.Clone(v.Nodes)
	slices.SortStableFunc(out, func(a, b NodeView) int { return g.Index(a.ID) - g.Index(b.ID) })
	return out
}

func topoSorted(g *dag.Graph, ids []string) []string {
	out := slices.Clone(ids)
	slices.SortStableFunc(out, func(a, b string) int { return g.Index(a) - g.Index(b) })
	return slices.Compact(out)
}

func joinRuns(rs []status.Run) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

func joinOffenders(os []Offender, withStatus bool) string {
	s := make([]string, len(os))
	for i, o := range os {
		s[i] = o.ID
		if withStatus {
			s[i] = fmt.Sprintf("%s (%s)", o.ID, o.Status)
		}
	}
	return strings.Join(s, ", ")
}

// nodeMenuOps are the node-level operations Allowed considers, in the
// order a node menu lists them.
var nodeMenuOps = []status.Op{status.OpNodeStop, status.OpNodePause, status.OpNodeResume, status.OpNodeRetry,
	status.OpNodeSkip, status.OpRerunDownstream}

// Allowed lists the operations on node n that would be accepted while its
// run is in status run: the node operations Check accepts for n alone,
// rerun-from (a reset, also on closed runs) once n was dispatched, and the
// instance operations Check accepts for n's last instance. It is what a
// console shows in a node's menu; the operation itself is still checked
// when it is asked for, since the state may move in between.
func Allowed(g *dag.Graph, run status.Run, n NodeView) []status.Op {
	if nd := g.Node(n.ID); nd == nil || nd.IsLogic() {
		return nil
	}
	var out []status.Op
	open := slices.Contains(runOpenFor, run)
	st := status.NodeState{Status: status.Node(n.Status), Ran: n.Ran}
	for _, op := range nodeMenuOps {
		if ok, _ := status.NodeOpAllowed(op, st); ok && open {
			out = append(out, op)
		}
	}
	if ok, _ := status.NodeOpAllowed(status.OpRerunFrom, st); ok {
		out = append(out, status.OpRerunFrom)
	}
	if !open || len(n.Instances) == 0 {
		return out
	}
	last := status.Instance(n.Instances[len(n.Instances)-1].Status)
	if ok, _ := status.InstanceOpAllowed(status.OpInstanceStop, last); ok {
		out = append(out, status.OpInstanceStop)
	}
	if ok, _ := status.InstanceOpAllowed(status.OpInstanceRerun, last); ok && st.Status.Terminal() {
		out = append(out, status.OpInstanceRerun)
	}
	return out
}
