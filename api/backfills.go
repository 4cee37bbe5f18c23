package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/bizdate"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// Backfiller starts, queries and signals backfill drivers
// (docs/operations.md, "Backfill");
// *engine.Engine implements it. BackfillProgress and SignalBackfill wrap
// engine.ErrRunClosed once the driver has ended.
type Backfiller interface {
	StartBackfill(ctx context.Context, in workflows.BackfillInput) error
	BackfillProgress(ctx context.Context, id string) (workflows.BackfillProgress, error)
	SignalBackfill(ctx context.Context, id string, c workflows.BackfillControl) error
}

// Backfill limits.
const (
	maxBackfillParallel = 50
	// maxPreviewNodeRuns bounds a dry run's per-date preview: ten years of
	// dates times a 10,000-node flow would be a body of gigabytes. Dates,
	// nodes and counts are always complete.
	maxPreviewNodeRuns = 100_000
	// backfillQueryTimeout bounds a progress query, so that a detail page
	// falls back to the mirror rather than hang when no worker answers.
	backfillQueryTimeout = 5 * time.Second
	// backfillOpWait is how long an operation waits to see its effect in
	// the driver's progress before answering with what it sees.
	backfillOpWait = 5 * time.Second
)

// backfillBody is the body of POST /api/v1/backfills; it is stored, with
// defaults applied, as the backfill's spec.
type backfillBody struct {
	Kind         string `json:"kind"`
	DefinitionID string `json:"definition_id"`
	From         string `json:"from"`
	To           string `json:"to"`
	Step         string `json:"step"`
	Order        string `json:"order"`
	Parallel     int    `json:"parallel"`
	// Nodes, of a flow only: with Downstream each chosen node and
	// everything downstream of it, else exactly the chosen set.
	Nodes      []string          `json:"nodes,omitempty"`
	Downstream bool              `json:"downstream,omitempty"`
	Params     map[string]string `json:"params,omitempty"`
}

// backfillPlan is a checked backfill request: what it would run.
type backfillPlan struct {
	body    backfillBody
	kind    kind
	rec     record
	ver     versionRecord
	flow    dag.Flow
	params  map[string]string
	dates   []string
	nodeIDs []string
}

// problemsError is a 400 listing every problem of a request body that is
// not a definition.
func problemsError(p dag.Problems) *Error {
	msg := "invalid request: " + p.Error()
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: msg, Details: []dag.Problem(p)}
}

// checkBody applies the defaults and reports every problem of the body's
// own fields at once.
func (b *backfillBody) check() (dates []string, problems dag.Problems) {
	add := func(path, format string, args ...any) {
		problems = append(problems, dag.Problem{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	switch b.Kind {
	case "task", "flow":
	case "":
		add("kind", "is required: task or flow")
	default:
		add("kind", "must be task or flow, not %q", b.Kind)
	}
	if b.DefinitionID == "" {
		add("definition_id", "is required")
	}
	if b.Kind == "task" && len(b.Nodes) > 0 {
		add("nodes", "only a flow's backfill can choose nodes; a task is one node")
	}
	if b.Step == "" {
		b.Step = "1d"
	}
	if b.Order == "" {
		b.Order = "asc"
	}
	if b.Parallel == 0 {
		b.Parallel = 1
	}
	rangeOK := true
	for _, f := range []struct{ path, v string }{{"from", b.From}, {"to", b.To}} {
		if f.v == "" {
			add(f.path, "is required: a business date as YYYY-MM-DD")
			rangeOK = false
		} else if _, err := bizdate.Parse(f.v); err != nil {
			add(f.path, "%v", err)
			rangeOK = false
		}
	}
	if _, err := bizdate.ParseStep(b.Step); err != nil {
		add("step", "%v", err)
		rangeOK = false
	}
	if b.Order != "asc" && b.Order != "desc" {
		add("order", "must be asc or desc, not %q", b.Order)
		rangeOK = false
	}
	if b.Parallel < 1 || b.Parallel > maxBackfillParallel {
		add("parallel", "must be 1 (serial) to %d, not %d", maxBackfillParallel, b.Parallel)
	}
	seen := map[string]bool{}
	for i, n := range b.Nodes {
		if seen[n] {
			add(fmt.Sprintf("nodes[%d]", i), "node %q is chosen twice", n)
		}
		seen[n] = true
	}
	for _, k := range sortedParamNames(b.Params) {
		if !dag.ValidID(k) {
			add("params", "param name %q must be 1 to 64 of A-Z a-z 0-9 _ . -", k)
		}
	}
	if rangeOK {
		var err error
		if dates, err = bizdate.Range(b.From, b.To, b.Step, b.Order == "desc"); err != nil {
			add("to", "%v", err)
		}
	}
	return dates, problems
}

func sortedParamNames(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// planBackfill checks a request and resolves what it runs: the
// definition's current version resolved as a run once resolves it, cut to
// the chosen nodes.
func (s *Server) planBackfill(ctx context.Context, b backfillBody) (*backfillPlan, error) {
	dates, problems := b.check()
	if len(problems) > 0 {
		return nil, problemsError(problems)
	}
	p := &backfillPlan{body: b, dates: dates, kind: taskKind{}}
	if b.Kind == "flow" {
		p.kind = flowKind{}
	}
	var err error
	if p.rec, p.ver, err = p.kind.get(ctx, s.store, b.DefinitionID); err != nil {
		return nil, fmt.Errorf("backfill of %s %q: %w", b.Kind, b.DefinitionID, err)
	}
	src, err := p.kind.snapshot(ctx, s, p.rec, p.ver)
	if err != nil {
		return nil, err
	}
	p.flow = src.flow
	if len(b.Nodes) > 0 {
		var unknown dag.Problems
		ids := map[string]bool{}
		for _, n := range p.flow.Nodes {
			ids[n.ID] = true
		}
		for i, n := range b.Nodes {
			if !ids[n] {
				unknown = append(unknown, dag.Problem{Path: fmt.Sprintf("nodes[%d]", i),
					Message: fmt.Sprintf("flow %q version %d has no node %q", p.rec.ID, p.ver.Version, n)})
			}
		}
		if len(unknown) > 0 {
			return nil, problemsError(unknown)
		}
		if p.flow, err = dag.Subflow(p.flow, b.Nodes, b.Downstream); err != nil {
			return nil, fmt.Errorf("cut flow %q to the chosen nodes: %w", p.rec.ID, err)
		}
	}
	p.params = map[string]string{}
	for k, v := range src.params {
		p.params[k] = v
	}
	for k, v := range b.Params {
		p.params[k] = v
	}
	p.nodeIDs = make([]string, len(p.flow.Nodes))
	for i, n := range p.flow.Nodes {
		p.nodeIDs[i] = n.ID
	}
	return p, nil
}

type previewDate struct {
	Bizdate string   `json:"bizdate"`
	Nodes   []string `json:"nodes"`
}

type backfillDryRun struct {
	DryRun       bool          `json:"dry_run"`
	Kind         string        `json:"kind"`
	DefinitionID string        `json:"definition_id"`
	Version      int           `json:"version"`
	Order        string        `json:"order"`
	Parallel     int           `json:"parallel"`
	Dates        []string      `json:"dates"`
	Nodes        []string      `json:"nodes"`
	Runs         int           `json:"runs"`
	NodeRuns     int           `json:"node_runs"`
	Preview      []previewDate `json:"preview"`
	// PreviewTruncated says Preview stops early; see maxPreviewNodeRuns.
	PreviewTruncated bool `json:"preview_truncated,omitempty"`
}

func (p *backfillPlan) dryRun() backfillDryRun {
	out := backfillDryRun{DryRun: true, Kind: p.body.Kind, DefinitionID: p.rec.ID, Version: p.ver.Version,
		Order: p.body.Order, Parallel: p.body.Parallel, Dates: p.dates, Nodes: p.nodeIDs, Runs: len(p.dates),
		NodeRuns: len(p.dates) * len(p.nodeIDs), Preview: []previewDate{}}
	for i, d := range p.dates {
		if (i+1)*len(p.nodeIDs) > maxPreviewNodeRuns {
			out.PreviewTruncated = true
			break
		}
		out.Preview = append(out.Preview, previewDate{Bizdate: d, Nodes: p.nodeIDs})
	}
	return out
}

// backfillView is a backfill as listed and, with Dates, in detail.
type backfillView struct {
	ID             string                   `json:"id"`
	Kind           string                   `json:"kind"`
	DefinitionID   string                   `json:"definition_id"`
	DefinitionName string                   `json:"definition_name"`
	Version        int                      `json:"version"`
	Status         string                   `json:"status"`
	Total          int                      `json:"total"`
	Done           int                      `json:"done"`
	Failed         int                      `json:"failed"`
	Running        int                      `json:"running"`
	Waiting        int                      `json:"waiting"`
	Initiator      string                   `json:"initiator"`
	Spec           json.RawMessage          `json:"spec"`
	CreatedAt      *time.Time               `json:"created_at"`
	UpdatedAt      *time.Time               `json:"updated_at"`
	Live           bool                     `json:"live,omitempty"`
	Dates          []workflows.BackfillDate `json:"dates,omitempty"`
}

func viewBackfill(b *models.Backfill) backfillView {
	spec := json.RawMessage("null")
	if json.Valid([]byte(b.Spec)) {
		spec = json.RawMessage(b.Spec)
	}
	return backfillView{ID: b.ID, Kind: b.Kind, DefinitionID: b.DefinitionID, DefinitionName: b.DefinitionName,
		Version: b.Version, Status: b.Status, Total: b.Total, Done: b.Done, Failed: b.Failed, Running: b.Running,
		Waiting: b.Waiting, Initiator: b.Initiator, Spec: spec, CreatedAt: utc(b.CreatedAt), UpdatedAt: utc(b.UpdatedAt)}
}

func (v *backfillView) applyLive(p workflows.BackfillProgress) {
	v.Status, v.Total, v.Done, v.Failed, v.Running, v.Waiting = string(p.Status), p.Total, p.Done, p.Failed, p.Running, p.Waiting
	v.Dates = p.Dates
	if v.Dates == nil {
		v.Dates = []workflows.BackfillDate{}
	}
	v.Live = true
}

func (s *Server) backfillRoutes(v1 *gin.RouterGroup) {
	v1.POST("/backfills", s.createBackfill)
	v1.GET("/backfills", s.listBackfills)
	v1.GET("/backfills/:id", s.getBackfill)
	for _, op := range status.BackfillOps {
		v1.POST("/backfills/:id/"+string(op), s.backfillOp(op))
	}
}

// createBackfill records a backfill and starts its driver; with
// ?dry_run=true it only answers what would run.
func (s *Server) createBackfill(c *gin.Context) {
	ctx := c.Request.Context()
	dry, err := boolParam(c, "dry_run")
	if err != nil {
		_ = c.Error(err)
		return
	}
	var body backfillBody
	if err := decodeJSON(c, &body, false); err != nil {
		_ = c.Error(err)
		return
	}
	plan, err := s.planBackfill(ctx, body)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if dry {
		c.JSON(http.StatusOK, plan.dryRun())
		return
	}
	if s.backfiller == nil {
		_ = c.Error(&Error{Status: http.StatusServiceUnavailable, Code: CodeEngineUnavailable,
			Message: "backfills need an engine, and none is configured"})
		return
	}
	spec, err := json.Marshal(plan.body)
	if err != nil {
		_ = c.Error(fmt.Errorf("encode backfill spec: %w", err))
		return
	}
	id := uuid.NewString()
	auditTarget(c, id)
	row := &models.Backfill{ID: id, Kind: plan.kind.name(), DefinitionID: plan.rec.ID, DefinitionName: plan.rec.Name,
		Version: plan.ver.Version, Spec: string(spec), Status: string(status.BackfillRunning), Total: len(plan.dates),
		Waiting: len(plan.dates), Initiator: Actor(ctx)}
	if err := s.store.CreateBackfill(ctx, row); err != nil {
		_ = c.Error(err)
		return
	}
	in := workflows.BackfillInput{ID: id, Kind: plan.kind.name(), DefinitionID: plan.rec.ID, DefinitionName: plan.rec.Name,
		Version: plan.ver.Version, Group: groupOr(plan.rec.Group), Flow: plan.flow, Params: plan.params, Dates: plan.dates,
		Parallel: plan.body.Parallel, Initiator: Actor(ctx), Mirror: true, OperableWindow: s.operableWindow()}
	if err := s.startBackfill(ctx, row, in); err != nil {
		_ = c.Error(err)
		return
	}
	v := viewBackfill(row)
	v.Dates = make([]workflows.BackfillDate, len(plan.dates))
	for i, d := range plan.dates {
		v.Dates[i] = workflows.BackfillDate{Bizdate: d, Status: status.DateWaiting}
	}
	c.JSON(http.StatusCreated, v)
}

// startBackfill hands the backfill to the engine, carried through even if
// the client hangs up (like startRun). A refused start marks the row
// failed, since no driver exists that would ever move it on.
func (s *Server) startBackfill(ctx context.Context, row *models.Backfill, in workflows.BackfillInput) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	err := s.backfiller.StartBackfill(ctx, in)
	if err == nil {
		return nil
	}
	if markErr := s.store.UpdateBackfillProgress(ctx, row.ID, models.BackfillCounts{Status: string(status.BackfillFailed),
		Total: row.Total, Waiting: row.Total}); markErr != nil {
		s.log.Error("mark unstarted backfill failed", "backfill_id", row.ID, "err", markErr)
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeEngineUnavailable,
		Message: fmt.Sprintf("backfill %s was recorded but could not be started: %v", row.ID, err),
		Details: gin.H{"backfill_id": row.ID}, Err: err}
}

func (s *Server) listBackfills(c *gin.Context) {
	p, err := pageParams(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	rows, total, err := s.store.ListBackfills(c.Request.Context(), c.Query("definition"), p.Limit, p.Offset)
	if err != nil {
		_ = c.Error(err)
		return
	}
	items := make([]backfillView, len(rows))
	for i := range rows {
		items[i] = viewBackfill(&rows[i])
	}
	c.JSON(http.StatusOK, list[backfillView]{Items: items, Total: total, page: p})
}

func (s *Server) getBackfill(c *gin.Context) {
	v, _, err := s.backfillDetail(c.Request.Context(), c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// backfillDetail is the backfill with per-date states: live from the
// driver while it runs, else rebuilt from the mirror (the row's counts and
// the runs linked to the backfill). live is nil when the driver could not
// answer.
func (s *Server) backfillDetail(ctx context.Context, id string) (*backfillView, *workflows.BackfillProgress, error) {
	row, err := s.store.GetBackfill(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("backfill %q: %w", id, err)
	}
	v := viewBackfill(row)
	if s.backfiller != nil && !status.Backfill(row.Status).Ended() {
		p, err := s.queryBackfill(ctx, id)
		if err == nil {
			v.applyLive(p)
			return &v, &p, nil
		}
		if !errors.Is(err, engine.ErrRunClosed) {
			s.log.Warn("live progress of backfill, answering from the mirror", "backfill_id", id, "err", err)
		}
	}
	if v.Dates, err = s.mirrorDates(ctx, row); err != nil {
		return nil, nil, err
	}
	return &v, nil, nil
}

func (s *Server) queryBackfill(ctx context.Context, id string) (workflows.BackfillProgress, error) {
	qctx, cancel := context.WithTimeout(ctx, backfillQueryTimeout)
	defer cancel()
	return s.backfiller.BackfillProgress(qctx, id)
}

// mirrorDates rebuilds the per-date states from the backfill's spec (its
// dates) and the runs linked to it: each date shows its latest attempt.
func (s *Server) mirrorDates(ctx context.Context, row *models.Backfill) ([]workflows.BackfillDate, error) {
	var order []string
	var spec backfillBody
	if json.Unmarshal([]byte(row.Spec), &spec) == nil {
		// A spec that no longer yields dates (hand-edited) leaves the
		// runs to list them.
		order, _ = bizdate.Range(spec.From, spec.To, spec.Step, spec.Order == "desc")
	}
	byDate := map[string]*workflows.BackfillDate{}
	for _, d := range order {
		byDate[d] = &workflows.BackfillDate{Bizdate: d, Status: status.DateWaiting}
	}
	for offset := 0; ; offset += maxLimit {
		pg, err := s.store.ListRunPage(ctx, models.RunFilter{BackfillID: row.ID, Limit: maxLimit, Offset: offset})
		if err != nil {
			return nil, err
		}
		runs := pg.Runs
		for i := range runs {
			r := &runs[i]
			_, attempt, _ := workflows.ParseBackfillRunID(r.ID, row.ID)
			d, ok := byDate[r.Bizdate]
			if !ok {
				d = &workflows.BackfillDate{Bizdate: r.Bizdate}
				byDate[r.Bizdate] = d
				order = append(order, r.Bizdate)
			}
			if d.RunID != "" && attempt < d.Attempt {
				continue
			}
			d.RunID, d.Attempt, d.RunStatus = r.ID, attempt, r.Status
			switch {
			case r.Status == string(status.RunSuccess):
				d.Status = status.DateSuccess
			case status.Run(r.Status).Terminal():
				d.Status = status.DateFailed
			default:
				d.Status = status.DateRunning
			}
		}
		if pg.Next == nil {
			break
		}
	}
	out := make([]workflows.BackfillDate, 0, len(order))
	for _, d := range order {
		out = append(out, *byDate[d])
	}
	return out, nil
}

// backfillOp signals pause, resume, stop or retry to the backfill's
// driver once its state allows the operation; ?dry_run=true answers the
// dates the operation would touch instead.
func (s *Server) backfillOp(op status.BackfillOp) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := c.Param("id")
		dry, err := boolParam(c, "dry_run")
		if err != nil {
			_ = c.Error(err)
			return
		}
		if err := decodeJSON(c, &struct{}{}, true); err != nil {
			_ = c.Error(err)
			return
		}
		row, err := s.store.GetBackfill(ctx, id)
		if err != nil {
			_ = c.Error(fmt.Errorf("backfill %q: %w", id, err))
			return
		}
		if status.Backfill(row.Status).Ended() {
			_ = c.Error(backfillClosed(id, op, status.Backfill(row.Status), nil))
			return
		}
		if s.backfiller == nil {
			_ = c.Error(&Error{Status: http.StatusServiceUnavailable, Code: CodeEngineUnavailable,
				Message: "backfills need an engine, and none is configured"})
			return
		}
		before, err := s.queryBackfill(ctx, id)
		if err != nil {
			_ = c.Error(backfillEngineError(id, op, status.Backfill(row.Status), err))
			return
		}
		if before.Status.Ended() {
			_ = c.Error(backfillClosed(id, op, before.Status, nil))
			return
		}
		if reason := status.BackfillOpRefusal(op, before.Status, before.Failed); reason != "" {
			_ = c.Error(&Error{Status: http.StatusConflict, Code: CodeBackfillNotOperable,
				Message: fmt.Sprintf("cannot %s backfill %s: it is %s (%d done, %d failed, %d running, %d waiting); %s",
					op, id, before.Status, before.Done, before.Failed, before.Running, before.Waiting, reason),
				Details: gin.H{"status": before.Status, "op": op}})
			return
		}
		if dry {
			c.JSON(http.StatusOK, gin.H{"dry_run": true, "op": op, "status": before.Status, "dates": touchedDates(op, before)})
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
		defer cancel()
		if err := s.backfiller.SignalBackfill(sctx, id, workflows.BackfillControl{Op: op, Actor: Actor(ctx)}); err != nil {
			_ = c.Error(backfillEngineError(id, op, before.Status, err))
			return
		}
		s.awaitBackfillOp(ctx, id, op, before)
		v, _, err := s.backfillDetail(ctx, id)
		if err != nil {
			_ = c.Error(err)
			return
		}
		c.JSON(http.StatusOK, v)
	}
}

// touchedDates are the dates an operation would act on.
func touchedDates(op status.BackfillOp, p workflows.BackfillProgress) []string {
	want := status.BackfillOpTouches(op)
	out := []string{}
	for _, d := range p.Dates {
		if slices.Contains(want, d.Status) {
			out = append(out, d.Bizdate)
		}
	}
	return out
}

// awaitBackfillOp waits, briefly, until the driver shows the operation's
// effect, so that the answer reflects it; a driver that has not got to it
// yet is no error, the signal is delivered.
func (s *Server) awaitBackfillOp(ctx context.Context, id string, op status.BackfillOp, before workflows.BackfillProgress) {
	// Every way this ends is an answer: seen, ended (a stop) or unreachable
	// (the detail will say), or out of time.
	_, _ = engine.Poll(ctx, backfillOpWait, func() (struct{}, error) {
		p, err := s.queryBackfill(ctx, id)
		if err != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		switch {
		case op == status.BackfillPause && p.Status == status.BackfillPaused,
			op == status.BackfillResume && p.Status != status.BackfillPaused,
			op == status.BackfillStop && p.Status == status.BackfillStopped,
			op == status.BackfillRetry && p.Failed < before.Failed:
			return struct{}{}, nil
		}
		return struct{}{}, engine.ErrPending
	})
}

func backfillClosed(id string, op status.BackfillOp, st status.Backfill, err error) *Error {
	return &Error{Status: http.StatusConflict, Code: CodeBackfillClosed,
		Message: fmt.Sprintf("cannot %s backfill %s: it has ended (%s); start a new backfill for its dates", op, id, st),
		Details: gin.H{"status": st, "op": op}, Err: err}
}

func backfillEngineError(id string, op status.BackfillOp, st status.Backfill, err error) error {
	if errors.Is(err, engine.ErrRunClosed) {
		return backfillClosed(id, op, st, err)
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeEngineUnavailable,
		Message: fmt.Sprintf("%s backfill %s: the engine did not answer: %v", op, id, err), Err: err}
}
