package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// The console's run routes: the topology view of a run's detail, locate
// current progress, a node's lineage and duration history, and the Gantt
// data. docs/console-api.md describes their shapes.

// topoNode is one node of the run's pinned topology with its state. Empty
// fields are left out: a 10,000-node run is mostly nodes that share every
// default.
type topoNode struct {
	ID     string `json:"id"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type"`
	Kind   string `json:"kind,omitempty"`
	TaskID string `json:"task_id,omitempty"`
	Group  string `json:"group,omitempty"`
	Mode   string `json:"mode,omitempty"`
	Shards int    `json:"shards,omitempty"`
	Core   bool   `json:"core,omitempty"`

	Status     string            `json:"status"`
	Forced     bool              `json:"forced,omitempty"`
	Attempts   int               `json:"attempts,omitempty"`
	Message    string            `json:"message,omitempty"`
	Outputs    map[string]string `json:"outputs,omitempty"`
	StartedAt  *string           `json:"started_at,omitempty"` // stamp
	FinishedAt *string           `json:"finished_at,omitempty"`
	Instances  []topoInstance    `json:"instances,omitempty"`
	// AllowedOps are the operations the node's state allows now
	// (control.Allowed): what a console's node menu offers.
	AllowedOps []status.Op `json:"allowed_ops,omitempty"`
}

type topoInstance struct {
	ID           string  `json:"id"`
	Shard        int     `json:"shard,omitempty"`
	Attempt      int     `json:"attempt"`
	Status       string  `json:"status"`
	WorkerID     string  `json:"worker_id,omitempty"`
	Host         string  `json:"host,omitempty"`
	ExitCode     *int    `json:"exit_code,omitempty"`
	Message      string  `json:"message,omitempty"`
	DispatchedAt *string `json:"dispatched_at,omitempty"` // stamp
	StartedAt    *string `json:"started_at,omitempty"`
	FinishedAt   *string `json:"finished_at,omitempty"`
	LogSize      int64   `json:"log_size,omitempty"`
}

type topoTransition struct {
	At        *time.Time `json:"at"`
	Entity    string     `json:"entity"`
	EntityID  string     `json:"entity_id"`
	From      string     `json:"from,omitempty"`
	To        string     `json:"to"`
	Actor     string     `json:"actor,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	RequestID string     `json:"request_id,omitempty"`
}

// topologyDetail is GET /runs/{id}?view=topology: the run, its nodes in
// topological order with their definition and state, and the edges as
// [from, to, on] triples.
type topologyDetail struct {
	runView
	View        string           `json:"view"`
	Nodes       []topoNode       `json:"nodes"`
	Edges       [][3]string      `json:"edges"`
	Transitions []topoTransition `json:"transitions"`
	Executions  []executionView  `json:"executions"`
	Live        bool             `json:"live,omitempty"`
	// LastEventID is the run's latest transition when the view was read:
	// GET /runs/{id}/events?after=<it> carries on from this view.
	LastEventID uint64 `json:"last_event_id"`
	// AllowedOps are the run-level operations the run's status allows.
	AllowedOps []status.Op `json:"allowed_ops"`
	// TopologyError says why the pinned version could not be read (the
	// definition was purged); nodes then carry only their recorded state.
	TopologyError string `json:"topology_error,omitempty"`
}

// describe fills a topology node's definition fields.
func describe(n *dag.Node, flowGroup string) topoNode {
	t := topoNode{ID: n.ID, Name: n.Name, Type: string(n.EffectiveType()), TaskID: n.TaskID, Core: n.Core}
	if n.IsLogic() {
		return t
	}
	t.Group = groupOr(flowGroup)
	t.Mode = dag.ModeSingle
	if n.Task != nil {
		t.Kind = n.Task.Kind
		if n.Task.Group != "" {
			t.Group = n.Task.Group
		}
		if n.Task.Mode != "" {
			t.Mode = n.Task.Mode
		}
		t.Shards = n.Task.Shards
	}
	return t
}

func compactInstance(in *instanceView) topoInstance {
	return topoInstance{ID: in.ID, Shard: in.ShardIndex, Attempt: in.Attempt, Status: in.Status, WorkerID: in.WorkerID,
		Host: in.Host, ExitCode: in.ExitCode, Message: in.Message, DispatchedAt: stamp(in.DispatchedAt), StartedAt: stamp(in.StartedAt),
		FinishedAt: stamp(in.FinishedAt), LogSize: in.LogSize}
}

// topology renders d in the topology view over g (nil when it could not
// be read, flowErr saying why).
func topology(d *runDetail, g *dag.Graph, flowErr error) *topologyDetail {
	out := &topologyDetail{runView: d.runView, View: "topology", Transitions: make([]topoTransition, len(d.Transitions)),
		Executions: d.Executions, Live: d.Live, Edges: [][3]string{}, AllowedOps: runAllowedOps(status.Run(d.Status))}
	state := make(map[string]*nodeView, len(d.Nodes))
	for i := range d.Nodes {
		state[d.Nodes[i].ID] = &d.Nodes[i]
	}
	fill := func(t *topoNode, n *nodeView) {
		t.Status = string(status.NodeWaiting)
		if n == nil {
			return
		}
		t.Status, t.Forced, t.Attempts, t.Message = n.Status, n.Forced, n.Attempts, n.Message
		t.StartedAt, t.FinishedAt = stamp(n.StartedAt), stamp(n.FinishedAt)
		if len(n.Outputs) > 0 {
			t.Outputs = n.Outputs
		}
		for k := range n.Instances {
			t.Instances = append(t.Instances, compactInstance(&n.Instances[k]))
		}
	}
	listed := map[string]bool{}
	if g != nil {
		out.Nodes = make([]topoNode, 0, g.Len())
		for _, id := range g.Order() {
			t := describe(g.Node(id), d.Group)
			fill(&t, state[id])
			t.AllowedOps = control.Allowed(g, status.Run(d.Status), nodeControlView(id, state[id]))
			out.Nodes = append(out.Nodes, t)
			listed[id] = true
			for _, e := range g.Downstream(id) {
				out.Edges = append(out.Edges, [3]string{e.From, e.To, string(e.Condition())})
			}
		}
	} else {
		out.TopologyError = flowErr.Error()
	}
	// Nodes the mirror knows but the topology does not (it could not be
	// read) still show, in the order they were recorded.
	for i := range d.Nodes {
		if !listed[d.Nodes[i].ID] {
			t := topoNode{ID: d.Nodes[i].ID}
			fill(&t, &d.Nodes[i])
			out.Nodes = append(out.Nodes, t)
		}
	}
	for i, t := range d.Transitions {
		// Same fields; only the JSON tags differ (the compact view omits empties).
		out.Transitions[i] = topoTransition(t)
	}
	return out
}

// runMenuOps are the run-level operations, in the order a console shows them.
var runMenuOps = []status.Op{status.OpStop, status.OpPause, status.OpResume, status.OpRetryFailed,
	status.OpRollback, status.OpAbandon, status.OpRerun}

func runAllowedOps(s status.Run) []status.Op {
	out := []status.Op{}
	for _, op := range runMenuOps {
		if ok, _ := status.RunOpAllowed(op, s); ok {
			out = append(out, op)
		}
	}
	return out
}

// nodeControlView is the part of a node's recorded state (nil: none yet) the operation rules look
// at: a node ran once it has an attempt or an instance.
func nodeControlView(id string, n *nodeView) control.NodeView {
	if n == nil {
		return control.NodeView{ID: id, Status: string(status.NodeWaiting)}
	}
	v := control.NodeView{ID: n.ID, Status: n.Status, Attempts: n.Attempts, Ran: n.Attempts > 0 || len(n.Instances) > 0}
	for k := range n.Instances {
		v.Instances = append(v.Instances, control.InstanceView{ID: n.Instances[k].ID, Status: n.Instances[k].Status})
	}
	return v
}

// graphCacheSize bounds the pinned graphs kept: a 10,000-node graph holds
// a few MB, and a console looks at a handful of runs at a time.
const graphCacheSize = 64

// runState is what the node routes work on: the run, its pinned graph
// and its nodes' recorded states.
type runState struct {
	run   *models.Run
	graph *dag.Graph
	nodes map[string]*models.NodeRun
}

func (s *Server) loadRunState(ctx context.Context, id string) (*runState, error) {
	run, err := s.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	g, err := s.runGraph(ctx, run)
	if err != nil {
		return nil, err
	}
	rows, err := s.store.ListNodeRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	rg := &runState{run: run, graph: g, nodes: make(map[string]*models.NodeRun, len(rows))}
	for i := range rows {
		rg.nodes[rows[i].NodeID] = &rows[i]
	}
	return rg, nil
}

// nodeStatus is a node's recorded status; waiting until the mirror has one.
func (rg *runState) nodeStatus(id string) string {
	if n := rg.nodes[id]; n != nil && n.Status != "" {
		return n.Status
	}
	return string(status.NodeWaiting)
}

// node checks that the route's node belongs to the run.
func (rg *runState) node(id string) (*dag.Node, error) {
	n := rg.graph.Node(id)
	if n == nil {
		return nil, &Error{Status: http.StatusNotFound, Code: CodeNotFound,
			Message: fmt.Sprintf("run %s has no node %q", rg.run.ID, id)}
	}
	return n, nil
}

// onlyInt reads the route's one query parameter, an integer in [lo, hi].
func onlyInt(c *gin.Context, name string, def, lo, hi int) (int, error) {
	if err := checkQuery(c, name); err != nil {
		return 0, err
	}
	return boundedInt(c, name, def, lo, hi)
}

// boundedInt reads an integer query parameter within [lo, hi].
func boundedInt(c *gin.Context, name string, def, lo, hi int) (int, error) {
	v, err := intParam(c, name, def)
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		return 0, badRequest("query parameter %q must be between %d and %d, got %d", name, lo, hi, v)
	}
	return v, nil
}

// Locate current progress.

type locateNode struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Kind       string         `json:"kind,omitempty"`
	Status     string         `json:"status"`
	Message    string         `json:"message,omitempty"`
	StartedAt  *time.Time     `json:"started_at,omitempty"`
	FinishedAt *time.Time     `json:"finished_at,omitempty"`
	Instances  []topoInstance `json:"instances,omitempty"`
}

type locateFailure struct {
	locateNode
	// InstanceID is the instance whose log is tailed: the node's last
	// failed attempt.
	InstanceID string `json:"instance_id,omitempty"`
	ExitCode   *int   `json:"exit_code,omitempty"`
	// Error is the node's message, or its failed instance's.
	Error   string   `json:"error"`
	LogTail []string `json:"log_tail"`
	// LogSize is the whole log's size, so "more" can link to it.
	LogSize int64 `json:"log_size"`
}

type locateView struct {
	RunID     string `json:"run_id"`
	RunStatus string `json:"run_status"`
	// State is running (Running lists the nodes at work), failed (Failed is
	// the first failed node in topological order) or idle (neither).
	State   string         `json:"state"`
	Running []locateNode   `json:"running"`
	Failed  *locateFailure `json:"failed"`
}

// locateStatuses are the node statuses locate looks for.
var locateStatuses = []string{string(status.NodeDispatched), string(status.NodeRunning), string(status.NodeStopping),
	string(status.NodeFailed), string(status.NodeTimeout)}

// Bounds of the log tail locate reads.
const (
	defaultTailLines = 20
	maxTailLines     = 500
	tailBytes        = 64 << 10
)

func (s *Server) locateRun(c *gin.Context) {
	ctx := c.Request.Context()
	lines, err := onlyInt(c, "lines", defaultTailLines, 0, maxTailLines)
	if err != nil {
		_ = c.Error(err)
		return
	}
	run, err := s.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	g, err := s.runGraph(ctx, run)
	if err != nil {
		_ = c.Error(err)
		return
	}
	// Only the nodes at work or failed, and their instances: a 10,000-node
	// run has a handful of either.
	rows, err := s.store.ListNodeRunsWithStatus(ctx, run.ID, locateStatuses)
	if err != nil {
		_ = c.Error(err)
		return
	}
	rg := &runState{run: run, graph: g, nodes: make(map[string]*models.NodeRun, len(rows))}
	var ids []string
	for i := range rows {
		if g.Node(rows[i].NodeID) != nil {
			rg.nodes[rows[i].NodeID] = &rows[i]
			ids = append(ids, rows[i].NodeID)
		}
	}
	sort.Slice(ids, func(a, b int) bool { return g.Index(ids[a]) < g.Index(ids[b]) })
	insts, err := s.store.ListNodeInstances(ctx, run.ID, ids)
	if err != nil {
		_ = c.Error(err)
		return
	}
	byNode := map[string][]*models.Instance{}
	for i := range insts {
		byNode[insts[i].NodeID] = append(byNode[insts[i].NodeID], &insts[i])
	}
	out := locateView{RunID: rg.run.ID, RunStatus: rg.run.Status, State: "idle", Running: []locateNode{}}
	view := func(id string, only func(*models.Instance) bool) locateNode {
		n := rg.graph.Node(id)
		v := locateNode{ID: id, Type: string(n.EffectiveType()), Status: rg.nodeStatus(id)}
		if n.Task != nil {
			v.Kind = n.Task.Kind
		}
		if nr := rg.nodes[id]; nr != nil {
			v.Message, v.StartedAt = nr.Message, utcPtr(nr.StartedAt)
			if status.Node(nr.Status).Terminal() {
				v.FinishedAt = utcPtr(nr.FinishedAt)
			}
		}
		for _, in := range byNode[id] {
			if only(in) {
				iv := viewInstance(in)
				v.Instances = append(v.Instances, compactInstance(&iv))
			}
		}
		return v
	}
	var firstFailed string
	for _, id := range ids {
		switch status.Node(rg.nodeStatus(id)) {
		case status.NodeDispatched, status.NodeRunning, status.NodeStopping:
			out.Running = append(out.Running, view(id, func(in *models.Instance) bool {
				return !status.Instance(in.Status).Terminal()
			}))
		case status.NodeFailed, status.NodeTimeout:
			if firstFailed == "" {
				firstFailed = id
			}
		}
	}
	switch {
	case len(out.Running) > 0:
		out.State = "running"
	case firstFailed != "":
		out.State = "failed"
		f, err := s.failure(ctx, view(firstFailed, func(*models.Instance) bool { return false }), byNode[firstFailed], lines)
		if err != nil {
			_ = c.Error(err)
			return
		}
		out.Failed = f
	}
	c.JSON(http.StatusOK, out)
}

// failure explains a failed node: its message and the tail of the log of
// its last failed instance (the last instance if none failed, as when the
// node timed out).
func (s *Server) failure(ctx context.Context, v locateNode, insts []*models.Instance, lines int) (*locateFailure, error) {
	f := &locateFailure{locateNode: v, Error: v.Message, LogTail: []string{}}
	var pick *models.Instance
	for _, in := range insts {
		if pick == nil || in.Attempt >= pick.Attempt && (status.Instance(in.Status) != status.InstanceSuccess || status.Instance(pick.Status) == status.InstanceSuccess) {
			pick = in
		}
	}
	if pick == nil {
		return f, nil
	}
	iv := viewInstance(pick)
	f.Instances = []topoInstance{compactInstance(&iv)}
	f.InstanceID, f.ExitCode = pick.ID, pick.ExitCode
	if f.Error == "" {
		f.Error = pick.Message
	}
	size, err := s.store.LogSize(ctx, pick.ID)
	if err != nil {
		return nil, err
	}
	f.LogSize = size
	if lines == 0 || size == 0 {
		return f, nil
	}
	data, err := s.store.ReadLog(ctx, pick.ID, max(size-tailBytes, 0), tailBytes)
	if err != nil {
		return nil, err
	}
	f.LogTail = lastLines(data, lines, size > tailBytes)
	return f, nil
}

// lastLines is the last n lines of data; cut says data starts mid-log, so
// its first line may be partial and is dropped unless it is all there is.
func lastLines(data []byte, n int, cut bool) []string {
	data = bytes.TrimRight(data, "\n")
	if len(data) == 0 {
		return []string{}
	}
	all := strings.Split(string(data), "\n")
	if cut && len(all) > 1 {
		all = all[1:]
	}
	if len(all) > n {
		all = all[len(all)-n:]
	}
	for i := range all {
		all[i] = strings.TrimSuffix(all[i], "\r")
	}
	return all
}

// Lineage: a node's upstream and downstream to a depth (上下游).

type lineageNode struct {
	ID       string `json:"id"`
	Distance int    `json:"distance"`
	Type     string `json:"type"`
	Kind     string `json:"kind,omitempty"`
	Status   string `json:"status"`
	Core     bool   `json:"core,omitempty"`
}

type lineageView struct {
	RunID      string        `json:"run_id"`
	Node       lineageNode   `json:"node"`
	Direction  string        `json:"direction"`
	Depth      int           `json:"depth"`
	Upstream   []lineageNode `json:"upstream"`
	Downstream []lineageNode `json:"downstream"`
	// Edges are those between the listed nodes, as [from, to, on].
	Edges [][3]string `json:"edges"`
}

// maxLineageDepth bounds depth; 0 asks for the whole closure.
const maxLineageDepth = 1000

func (s *Server) nodeLineage(c *gin.Context) {
	ctx := c.Request.Context()
	if err := checkQuery(c, "depth", "direction"); err != nil {
		_ = c.Error(err)
		return
	}
	depth, err := boundedInt(c, "depth", 1, 0, maxLineageDepth)
	if err != nil {
		_ = c.Error(err)
		return
	}
	dir := c.DefaultQuery("direction", "both")
	if dir != "up" && dir != "down" && dir != "both" {
		_ = c.Error(badRequest("query parameter \"direction\" must be up, down or both, got %q", dir))
		return
	}
	rg, err := s.loadRunState(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	n, err := rg.node(c.Param("node"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	item := func(id string, dist int) lineageNode {
		dn := rg.graph.Node(id)
		v := lineageNode{ID: id, Distance: dist, Type: string(dn.EffectiveType()), Status: rg.nodeStatus(id), Core: dn.Core}
		if dn.Task != nil {
			v.Kind = dn.Task.Kind
		}
		return v
	}
	out := lineageView{RunID: rg.run.ID, Node: item(n.ID, 0), Direction: dir, Depth: depth,
		Upstream: []lineageNode{}, Downstream: []lineageNode{}, Edges: [][3]string{}}
	in := map[string]bool{n.ID: true}
	if dir != "down" {
		for _, r := range rg.graph.Within(n.ID, depth, false) {
			out.Upstream = append(out.Upstream, item(r.ID, r.Distance))
			in[r.ID] = true
		}
	}
	if dir != "up" {
		for _, r := range rg.graph.Within(n.ID, depth, true) {
			out.Downstream = append(out.Downstream, item(r.ID, r.Distance))
			in[r.ID] = true
		}
	}
	for _, id := range rg.graph.Order() {
		if !in[id] {
			continue
		}
		for _, e := range rg.graph.Downstream(id) {
			if in[e.To] {
				out.Edges = append(out.Edges, [3]string{e.From, e.To, string(e.Condition())})
			}
		}
	}
	c.JSON(http.StatusOK, out)
}

// Duration history of a node over its definition's runs.

type historyItem struct {
	RunID      string     `json:"run_id"`
	Bizdate    string     `json:"bizdate"`
	Trigger    string     `json:"trigger"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	// DurationMS is finished - started of a finished node, null otherwise.
	DurationMS *int64 `json:"duration_ms"`
}

type historyView struct {
	RunID        string        `json:"run_id"`
	Node         string        `json:"node"`
	Kind         string        `json:"kind"`
	DefinitionID string        `json:"definition_id"`
	Limit        int           `json:"limit"`
	Items        []historyItem `json:"items"`
	// The percentiles are over the successful items' durations (nearest
	// rank), null without any: a failure's duration says when it broke,
	// not how long the node takes.
	Samples int    `json:"samples"`
	P50MS   *int64 `json:"p50_ms"`
	P95MS   *int64 `json:"p95_ms"`
}

const (
	defaultHistory = 30
	maxHistory     = 500
)

func (s *Server) nodeHistory(c *gin.Context) {
	ctx := c.Request.Context()
	limit, err := onlyInt(c, "limit", defaultHistory, 1, maxHistory)
	if err != nil {
		_ = c.Error(err)
		return
	}
	run, err := s.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	node := c.Param("node")
	rows, err := s.store.NodeHistory(ctx, run.Kind, run.DefinitionID, node,
		models.RunCursor{CreatedAt: run.CreatedAt, ID: run.ID}, limit)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := historyView{RunID: run.ID, Node: node, Kind: run.Kind, DefinitionID: run.DefinitionID, Limit: limit,
		Items: make([]historyItem, len(rows))}
	var ok []int64
	for i, r := range rows {
		it := historyItem{RunID: r.RunID, Bizdate: r.Bizdate, Trigger: r.Trigger, Status: r.Status, Attempts: r.Attempts,
			StartedAt: utcPtr(r.StartedAt)}
		if status.Node(r.Status).Terminal() && r.StartedAt != nil && r.FinishedAt != nil {
			it.FinishedAt = utcPtr(r.FinishedAt)
			d := r.FinishedAt.Sub(*r.StartedAt).Milliseconds()
			it.DurationMS = &d
			if r.Status == string(status.NodeSuccess) {
				ok = append(ok, d)
			}
		}
		out.Items[i] = it
	}
	if len(rows) == 0 {
		// Not even the run itself has the node: a wrong name, not a node
		// without history.
		if err := s.nodeOfRun(ctx, run, node); err != nil {
			_ = c.Error(err)
			return
		}
	}
	out.Samples = len(ok)
	out.P50MS, out.P95MS = percentile(ok, 50), percentile(ok, 95)
	c.JSON(http.StatusOK, out)
}

// nodeOfRun checks node is in run's pinned topology.
func (s *Server) nodeOfRun(ctx context.Context, run *models.Run, node string) error {
	g, err := s.runGraph(ctx, run)
	if err != nil {
		return err
	}
	_, err = (&runState{run: run, graph: g}).node(node)
	return err
}

// percentile is the nearest-rank p-th percentile of xs; nil when empty.
// xs is sorted in place.
func percentile(xs []int64, p int) *int64 {
	if len(xs) == 0 {
		return nil
	}
	slices.Sort(xs)
	rank := (p*len(xs) + 99) / 100 // ceil(p/100 * n)
	v := xs[max(rank, 1)-1]
	return &v
}

// Gantt data.

type ganttItem struct {
	Node         string  `json:"node"`
	Instance     string  `json:"instance"`
	Shard        int     `json:"shard,omitempty"`
	Attempt      int     `json:"attempt"`
	Status       string  `json:"status"`
	WorkerID     string  `json:"worker_id,omitempty"`
	DispatchedAt *string `json:"dispatched_at"` // stamp
	StartedAt    *string `json:"started_at"`
	FinishedAt   *string `json:"finished_at"`
}

type ganttView struct {
	RunID      string      `json:"run_id"`
	Status     string      `json:"status"`
	StartedAt  *time.Time  `json:"started_at"`
	FinishedAt *time.Time  `json:"finished_at"`
	Items      []ganttItem `json:"items"`
}

func (s *Server) runGantt(c *gin.Context) {
	ctx := c.Request.Context()
	if err := checkQuery(c); err != nil {
		_ = c.Error(err)
		return
	}
	run, err := s.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.answerRun(c, "gantt", run, status.Run(run.Status).Terminal(), func() (any, error) { return s.gantt(ctx, run) })
}

// gantt builds run's Gantt data.
func (s *Server) gantt(ctx context.Context, run *models.Run) (*ganttView, error) {
	insts, err := s.store.ListInstanceTimes(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	// Bars in the order they began; never-dispatched ones (rows from before
	// the column existed) last.
	sort.SliceStable(insts, func(a, b int) bool {
		da, db := insts[a].DispatchedAt, insts[b].DispatchedAt
		switch {
		case da == nil || db == nil:
			return da != nil && db == nil
		case !da.Equal(*db):
			return da.Before(*db)
		}
		return insts[a].ID < insts[b].ID
	})
	rv := viewRun(run)
	out := &ganttView{RunID: run.ID, Status: run.Status, StartedAt: rv.StartedAt, FinishedAt: rv.FinishedAt,
		Items: make([]ganttItem, len(insts))}
	for i := range insts {
		in := &insts[i]
		it := ganttItem{Node: in.NodeID, Instance: in.ID, Shard: in.ShardIndex, Attempt: in.Attempt, Status: in.Status,
			WorkerID: in.WorkerID, DispatchedAt: stamp(in.DispatchedAt), StartedAt: stamp(in.StartedAt)}
		if status.Instance(in.Status).Terminal() {
			it.FinishedAt = stamp(in.FinishedAt)
		}
		out.Items[i] = it
	}
	return out, nil
}

// viewParam reads GET /runs/{id}'s ?view: "" (the full detail) or
// "topology".
func viewParam(c *gin.Context) (string, error) {
	v := c.Query("view")
	if v != "" && v != "topology" {
		return "", badRequest("query parameter \"view\" must be topology, got %q", v)
	}
	return v, nil
}
