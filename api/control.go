package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.temporal.io/api/serviceerror"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// controlRoutes registers the execution-control operations
// (docs/operations.md, "Operations").
func (s *Server) controlRoutes(v1 *gin.RouterGroup) {
	// Static segments win over :id, so "batch" is never taken for a run id.
	v1.POST("/runs/batch/stop", s.batchOp(status.OpStop))
	v1.POST("/runs/batch/retry", s.batchOp(status.OpRetryFailed))
	for _, op := range []status.Op{status.OpStop, status.OpPause, status.OpResume, status.OpRetryFailed, status.OpRollback, status.OpAbandon} {
		v1.POST("/runs/:id/"+string(op), s.runOp(op))
	}
	v1.POST("/runs/:id/rerun", s.rerunRun)
	v1.POST("/runs/:id/rerun-downstream", s.rerunDownstream)
	for path, op := range map[string]status.Op{
		"stop": status.OpNodeStop, "pause": status.OpNodePause, "resume": status.OpNodeResume,
		"retry": status.OpNodeRetry, "skip": status.OpNodeSkip,
	} {
		v1.POST("/runs/:id/nodes/:node/"+path, s.nodeOp(op))
	}
	v1.POST("/runs/:id/nodes/:node/rerun-from", s.rerunFrom)
	v1.POST("/instances/:id/stop", s.instanceOp(status.OpInstanceStop))
	v1.POST("/instances/:id/rerun", s.instanceOp(status.OpInstanceRerun))
}

// reasonBody is the optional body of every control operation.
type reasonBody struct {
	Reason string `json:"reason"`
}

type downstreamBody struct {
	Nodes  []string `json:"nodes"`
	Reason string   `json:"reason"`
}

type batchBody struct {
	IDs    []string `json:"ids"`
	Reason string   `json:"reason"`
}

type rerunBody struct {
	Params map[string]string `json:"params"`
}

// planView is a plan with both lists always present.
type planView struct {
	Nodes     []string `json:"nodes"`
	Instances []string `json:"instances"`
}

func viewPlan(p control.Plan) planView {
	v := planView{Nodes: p.Nodes, Instances: p.Instances}
	if v.Nodes == nil {
		v.Nodes = []string{}
	}
	if v.Instances == nil {
		v.Instances = []string{}
	}
	return v
}

// opAnswer is the answer of a control operation, applied or dry run.
type opAnswer struct {
	Applied bool       `json:"applied,omitempty"`
	DryRun  bool       `json:"dry_run,omitempty"`
	Plan    planView   `json:"plan"`
	Run     *runDetail `json:"run,omitempty"`
}

// maxBatch bounds a batch operation, like a page of the runs list.
const maxBatch = maxLimit

// batchParallel bounds the runs a batch operates on at once: each waits up
// to the engine's control wait, and the mirror has few connections.
const batchParallel = 8

// requestKey is what the workflow dedupes a request on: the Idempotency-Key
// when given, else the request id.
func requestKey(c *gin.Context) string {
	if k := c.GetHeader(HeaderIdempotencyKey); k != "" {
		return k
	}
	return RequestID(c.Request.Context())
}

func (s *Server) runOp(op status.Op) gin.HandlerFunc {
	return func(c *gin.Context) {
		var body reasonBody
		if err := decodeJSON(c, &body, true); err != nil {
			_ = c.Error(err)
			return
		}
		s.respondOp(c, c.Param("id"), control.Request{Op: op, Reason: body.Reason})
	}
}

func (s *Server) nodeOp(op status.Op) gin.HandlerFunc {
	return func(c *gin.Context) {
		var body reasonBody
		if err := decodeJSON(c, &body, true); err != nil {
			_ = c.Error(err)
			return
		}
		s.respondOp(c, c.Param("id"), control.Request{Op: op, Nodes: []string{c.Param("node")}, Reason: body.Reason})
	}
}

func (s *Server) rerunDownstream(c *gin.Context) {
	var body downstreamBody
	if err := decodeJSON(c, &body, false); err != nil {
		_ = c.Error(err)
		return
	}
	if len(body.Nodes) == 0 {
		_ = c.Error(badRequest("nodes: choose at least one node to rerun"))
		return
	}
	s.respondOp(c, c.Param("id"), control.Request{Op: status.OpRerunDownstream, Nodes: body.Nodes, Reason: body.Reason})
}

// instanceOp finds the instance's run in the mirror; an instance not
// recorded yet is found by its id, which starts with the run id.
func (s *Server) instanceOp(op status.Op) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var body reasonBody
		if err := decodeJSON(c, &body, true); err != nil {
			_ = c.Error(err)
			return
		}
		id := c.Param("id")
		runID, _, _ := strings.Cut(id, ".")
		in, err := s.store.GetInstance(ctx, id)
		switch {
		case err == nil:
			runID = in.RunID
		case !errors.Is(err, models.ErrNotFound):
			_ = c.Error(err)
			return
		}
		s.respondOp(c, runID, control.Request{Op: op, Instance: id, Reason: body.Reason})
	}
}

// respondOp carries out one operation on one run and answers it.
func (s *Server) respondOp(c *gin.Context, runID string, req control.Request) {
	ctx := c.Request.Context()
	dryRun, err := boolParam(c, "dry_run")
	if err != nil {
		_ = c.Error(err)
		return
	}
	req.ID, req.Actor = requestKey(c), Actor(ctx)
	plan, err := s.operate(ctx, runID, req, dryRun)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if dryRun {
		c.JSON(http.StatusOK, opAnswer{DryRun: true, Plan: viewPlan(plan)})
		return
	}
	detail, err := s.runDetail(ctx, runID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, opAnswer{Applied: true, Plan: viewPlan(plan), Run: detail})
}

// operate checks a request against the run's live state and, unless it is
// a dry run, has the run carry it out. The run re-checks it when the signal
// arrives, since the state may move in between; either refusal is a
// *control.Conflict.
func (s *Server) operate(ctx context.Context, runID string, req control.Request, dryRun bool) (control.Plan, error) {
	if s.engine == nil {
		return control.Plan{}, &Error{Status: http.StatusServiceUnavailable, Code: CodeEngineUnavailable, Message: "no engine configured"}
	}
	run, err := s.store.GetRun(ctx, runID)
	if err != nil {
		return control.Plan{}, err
	}
	if status.Run(run.Status).Closed() {
		return control.Plan{}, runClosed(run, nil)
	}
	view, err := s.engine.State(ctx, runID)
	if err != nil {
		return control.Plan{}, s.engineError(run, "read the state of", err)
	}
	g, err := s.runGraph(ctx, run)
	if err != nil {
		return control.Plan{}, err
	}
	plan, conflict := control.Check(g, view, req)
	if conflict != nil {
		return control.Plan{}, conflict
	}
	if dryRun {
		return plan, nil
	}
	res, err := s.engine.Control(ctx, runID, req)
	if err != nil {
		return control.Plan{}, s.engineError(run, string(req.Op), err)
	}
	if res.State != "applied" {
		if res.Conflict == nil {
			res.Conflict = &control.Conflict{Code: control.CodeRunNotOperable, Message: fmt.Sprintf("the run refused %s", req.Op)}
		}
		return control.Plan{}, res.Conflict
	}
	return res.Plan, nil
}

// runClosed is the answer for a run whose workflow has ended for good.
func runClosed(run *models.Run, cause error) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeRunClosed,
		Message: fmt.Sprintf("run %s is %s and closed: only rerun and rerun-from-node apply", run.ID, run.Status),
		Details: gin.H{"status": run.Status}, Err: cause}
}

// engineError classifies what the engine answered while operating on run.
func (s *Server) engineError(run *models.Run, what string, err error) error {
	switch {
	case errors.Is(err, engine.ErrRunClosed):
		return runClosed(run, err)
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, engine.ErrNotConfirmed), isDeadline(err):
		return &Error{Status: http.StatusGatewayTimeout, Code: CodeEngineTimeout,
			Message: fmt.Sprintf("run %s did not confirm %s in time; its state shows whether it took effect", run.ID, what), Err: err}
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeEngineUnavailable,
		Message: fmt.Sprintf("could not %s run %s: the engine is unavailable", what, run.ID), Err: err}
}

// isDeadline reports a deadline Temporal answered with (a query the
// workflow's worker did not answer in time under a signal storm): it comes
// as a gRPC status, not as the context's error, and means "not in time",
// not "unavailable".
func isDeadline(err error) bool {
	var de *serviceerror.DeadlineExceeded
	return errors.As(err, &de)
}

// batchResult is one run's outcome in a batch operation.
type batchResult struct {
	ID     string    `json:"id"`
	OK     bool      `json:"ok"`
	Status string    `json:"status,omitempty"`
	Plan   *planView `json:"plan,omitempty"`
	Error  *Error    `json:"error,omitempty"`
}

// batchOp applies one operation to many runs. The answer is 200 with a
// result per run, in the order asked: one refused run does not undo or
// block the others (DataWorks 批量殺任務 / 批量修複重跑).
func (s *Server) batchOp(op status.Op) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		dryRun, err := boolParam(c, "dry_run")
		if err != nil {
			_ = c.Error(err)
			return
		}
		var body batchBody
		if err := decodeJSON(c, &body, false); err != nil {
			_ = c.Error(err)
			return
		}
		if len(body.IDs) == 0 {
			_ = c.Error(badRequest("ids: name at least one run"))
			return
		}
		if len(body.IDs) > maxBatch {
			_ = c.Error(badRequest("ids: at most %d runs per call, got %d", maxBatch, len(body.IDs)))
			return
		}
		key := requestKey(c)
		results := make([]batchResult, len(body.IDs))
		sem := make(chan struct{}, batchParallel)
		var wg sync.WaitGroup
		for i, id := range body.IDs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				req := control.Request{ID: batchKey(key, id), Op: op, Actor: Actor(ctx), Reason: body.Reason}
				results[i] = s.batchOne(ctx, id, req, dryRun)
			}()
		}
		wg.Wait()
		c.JSON(http.StatusOK, gin.H{"dry_run": dryRun, "results": results})
	}
}

func (s *Server) batchOne(ctx context.Context, id string, req control.Request, dryRun bool) batchResult {
	plan, err := s.operate(ctx, id, req, dryRun)
	if err != nil {
		e := classify(err)
		if e.Status >= 500 {
			s.log.Error("batch operation failed", "op", req.Op, "run_id", id, "request_id", req.ID, "err", err)
		}
		return batchResult{ID: id, Error: e}
	}
	res := batchResult{ID: id, OK: true}
	if dryRun {
		p := viewPlan(plan)
		res.Plan = &p
	}
	if r, err := s.store.GetRun(ctx, id); err == nil {
		res.Status = r.Status
	}
	return res
}

// batchKey is the request id of one run of a batch: the workflow dedupes on
// it, so a repeated batch has no second effect on any run. It must fit the
// 64 characters of a request id.
func batchKey(key, runID string) string {
	if k := key + "/" + runID; len(k) <= 64 {
		return k
	}
	sum := sha256.Sum256([]byte(key + "/" + runID))
	return "batch-" + hex.EncodeToString(sum[:])[:40]
}

// rerunRun starts a new run of what a finished run ran: the same
// definition version and params (with optional overrides), trigger rerun,
// the finished run as its parent.
func (s *Server) rerunRun(c *gin.Context) {
	ctx := c.Request.Context()
	var body rerunBody
	if err := decodeJSON(c, &body, true); err != nil {
		_ = c.Error(err)
		return
	}
	if err := paramsError(body.Params); err != nil {
		_ = c.Error(err)
		return
	}
	parent, err := s.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	if ok, allowed := status.RunOpAllowed(status.OpRerun, status.Run(parent.Status)); !ok {
		_ = c.Error(&control.Conflict{Code: control.CodeRunNotOperable,
			Message: fmt.Sprintf("cannot rerun a run that is %s (allowed when %s)", parent.Status, joinRuns(allowed))})
		return
	}
	flow, err := s.runSnapshot(ctx, parent)
	if err != nil {
		_ = c.Error(err)
		return
	}
	params := stringMap(parent.Params)
	maps.Copy(params, body.Params)
	id := uuid.NewString()
	run := &models.Run{
		ID: id, Kind: parent.Kind, DefinitionID: parent.DefinitionID, DefinitionName: parent.DefinitionName,
		Version: parent.Version, Group: parent.Group, Status: string(status.RunWaiting), Trigger: dag.TriggerRerun,
		Bizdate: parent.Bizdate, Initiator: Actor(ctx), ParentRunID: parent.ID,
		WorkflowID: workflows.WorkflowID(id), CreatedAt: s.now().UTC(),
	}
	s.launch(c, run, flow, params)
}

func joinRuns(rs []status.Run) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// rerunFromAnswer is the answer of rerun-from-node.
type rerunFromAnswer struct {
	Applied       bool              `json:"applied,omitempty"`
	DryRun        bool              `json:"dry_run,omitempty"`
	ResetPoint    engine.ResetPoint `json:"reset_point"`
	Nodes         []string          `json:"nodes"`
	TemporalRunID string            `json:"temporal_run_id,omitempty"`
	Run           *runDetail        `json:"run,omitempty"`
}

// rerunFrom resets the run's workflow to where it first dispatched the
// node: the node and everything not finished by then runs again, earlier
// results stay. It works on open and closed runs alike; each reset is
// recorded as an execution of the run.
func (s *Server) rerunFrom(c *gin.Context) {
	ctx := c.Request.Context()
	var body reasonBody
	if err := decodeJSON(c, &body, true); err != nil {
		_ = c.Error(err)
		return
	}
	dryRun, err := boolParam(c, "dry_run")
	if err != nil {
		_ = c.Error(err)
		return
	}
	if s.engine == nil {
		_ = c.Error(&Error{Status: http.StatusServiceUnavailable, Code: CodeEngineUnavailable, Message: "no engine configured"})
		return
	}
	run, err := s.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	node := c.Param("node")
	g, err := s.runGraph(ctx, run)
	if err != nil {
		_ = c.Error(err)
		return
	}
	switch n := g.Node(node); {
	case n == nil:
		_ = c.Error(&control.Conflict{Code: control.CodeUnknownNode, Offending: []control.Offender{{ID: node}},
			Message: "no such node in this run: " + node})
		return
	case n.IsLogic():
		_ = c.Error(&control.Conflict{Code: control.CodeNodeNotEligible, Offending: []control.Offender{{ID: node, Status: "logic node"}},
			Message: fmt.Sprintf("%s is a logic node, which is never dispatched: rerun from a task node", node)})
		return
	}
	point, err := s.engine.FindResetPoint(ctx, run.ID, node)
	if err != nil {
		var noWorkflow *serviceerror.NotFound
		if errors.As(err, &noWorkflow) {
			_ = c.Error(&Error{Status: http.StatusConflict, Code: CodeNodeNeverDispatched,
				Message: fmt.Sprintf("run %s has no workflow to reset: it never started", run.ID), Err: err})
			return
		}
		if errors.Is(err, engine.ErrNeverDispatched) {
			_ = c.Error(&Error{Status: http.StatusConflict, Code: CodeNodeNeverDispatched,
				Message: fmt.Sprintf("node %s was never dispatched in run %s (allowed when dispatched at least once)", node, run.ID),
				Details: gin.H{"offending": []control.Offender{{ID: node}}}, Err: err})
			return
		}
		_ = c.Error(s.engineError(run, "find the reset point of", err))
		return
	}
	nodes := point.Reexecuted
	if nodes == nil {
		nodes = []string{}
	}
	if dryRun {
		c.JSON(http.StatusOK, rerunFromAnswer{DryRun: true, ResetPoint: point, Nodes: nodes})
		return
	}
	actor, reqID := Actor(ctx), requestKey(c)
	reason := fmt.Sprintf("rerun from %s by %s", node, actor)
	if body.Reason != "" {
		reason += ": " + body.Reason
	}
	newRunID, err := s.engine.Reset(ctx, run.ID, point, reason, reqID)
	if err != nil {
		_ = c.Error(s.engineError(run, "reset", err))
		return
	}
	// The reset happened: record it even if the client hangs up now.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	reexecuted, err := json.Marshal(nodes)
	if err != nil {
		_ = c.Error(fmt.Errorf("encode re-executed nodes: %w", err))
		return
	}
	if err := s.store.AddRunExecution(wctx, &models.RunExecution{RunID: run.ID, TemporalRunID: newRunID, Reason: "rerun-from",
		Node: node, Reexecuted: string(reexecuted), Actor: actor, RequestID: reqID}); err != nil {
		s.log.Error("record rerun-from execution", "run_id", run.ID, "temporal_run_id", newRunID, "err", err)
	}
	if err := s.store.SetRunWorkflow(wctx, run.ID, run.WorkflowID, newRunID); err != nil {
		s.log.Warn("record workflow of reset run", "run_id", run.ID, "err", err)
	}
	detail, err := s.runDetail(ctx, run.ID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, rerunFromAnswer{Applied: true, ResetPoint: point, Nodes: nodes, TemporalRunID: newRunID, Run: detail})
}

// runSnapshot rebuilds the flow a run executes from the definition version
// it pinned. Referenced tasks resolve to the version that was current when
// the run was created, which is what run once inlined then.
func (s *Server) runSnapshot(ctx context.Context, run *models.Run) (dag.Flow, error) {
	switch run.Kind {
	case "task":
		v, err := s.store.GetTaskVersion(ctx, run.DefinitionID, run.Version)
		if err != nil {
			return dag.Flow{}, fmt.Errorf("snapshot of run %s: %w", run.ID, err)
		}
		t, err := decodeTask(run.DefinitionID, taskVersionRecord(v))
		if err != nil {
			return dag.Flow{}, err
		}
		return dag.SingleTaskFlow(run.DefinitionID, t), nil
	case "flow":
		v, err := s.store.GetFlowVersion(ctx, run.DefinitionID, run.Version)
		if err != nil {
			return dag.Flow{}, fmt.Errorf("snapshot of run %s: %w", run.ID, err)
		}
		f, err := decodeFlow(run.DefinitionID, flowVersionRecord(v))
		if err != nil {
			return dag.Flow{}, err
		}
		resolved := map[string]*dag.Task{}
		for i := range f.Nodes {
			n := &f.Nodes[i]
			if n.TaskID == "" || n.Task != nil {
				continue
			}
			t, ok := resolved[n.TaskID]
			if !ok {
				if t, err = s.taskAsOf(ctx, n.TaskID, run.CreatedAt); err != nil {
					return dag.Flow{}, fmt.Errorf("snapshot of run %s: node %s: %w", run.ID, n.ID, err)
				}
				resolved[n.TaskID] = t
			}
			n.Task = t
		}
		return f, nil
	}
	return dag.Flow{}, fmt.Errorf("snapshot of run %s: unknown kind %q", run.ID, run.Kind)
}

// taskAsOf returns the newest version of a task saved at or before at, or
// its first version when all are newer (clocks of API hosts differ).
func (s *Server) taskAsOf(ctx context.Context, id string, at time.Time) (*dag.Task, error) {
	vs, err := s.store.ListTaskVersions(ctx, id) // newest first
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("task %s has no versions: %w", id, models.ErrNotFound)
	}
	pick := vs[len(vs)-1]
	for _, v := range vs {
		if !v.CreatedAt.After(at) {
			pick = v
			break
		}
	}
	t, err := decodeTask(id, taskVersionRecord(&pick))
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// runGraph is the flow graph of a run, for checking operations the way the
// workflow checks them.
func (s *Server) runGraph(ctx context.Context, run *models.Run) (*dag.Graph, error) {
	// A run's snapshot never changes, so its graph is built once and kept
	// (s.graphs): decoding a 10,000-node flow is most of a detail's cost.
	if g, ok := s.graphs.Get(run.ID); ok {
		return g, nil
	}
	f, err := s.runSnapshot(ctx, run)
	if err != nil {
		return nil, err
	}
	g, err := dag.NewGraph(&f)
	if err != nil {
		return nil, fmt.Errorf("graph of run %s: %w", run.ID, err)
	}
	s.graphs.Add(run.ID, g)
	return g, nil
}

// operableWindow is the window as the workflow input spells it.
func (s *Server) operableWindow() dag.Duration {
	if s.window <= 0 {
		return ""
	}
	return dag.Duration(s.window.String())
}
