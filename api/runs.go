package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/config"
	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/quartz"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

const bizdateLayout = "2006-01-02"

// runOnceBody is the body of POST /tasks/{id}/runs and /flows/{id}/runs.
type runOnceBody struct {
	Params  map[string]string `json:"params"`
	Bizdate string            `json:"bizdate"`
	Test    bool              `json:"test"`
}

// runOnce starts a run of the definition's current version, enabled or
// not: disabling only stops triggers from firing on their own.
func (s *Server) runOnce(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		var body runOnceBody
		if err := decodeJSON(c, &body, true); err != nil {
			_ = c.Error(err)
			return
		}
		if body.Bizdate != "" && !validBizdate(body.Bizdate) {
			_ = c.Error(badRequest("bizdate must be a date as YYYY-MM-DD, got %q", body.Bizdate))
			return
		}
		if err := paramsError(body.Params); err != nil {
			_ = c.Error(err)
			return
		}
		rec, ver, err := k.get(ctx, s.store, c.Param("id"))
		if err != nil {
			_ = c.Error(err)
			return
		}
		src, err := k.snapshot(ctx, s, rec, ver)
		if err != nil {
			_ = c.Error(err)
			return
		}
		trigger := dag.TriggerManual
		if body.Test {
			trigger = dag.TriggerTest
		}
		bizdate := body.Bizdate
		if bizdate == "" {
			if bizdate, err = s.today(src.timezone); err != nil {
				_ = c.Error(&Error{Status: http.StatusConflict, Code: CodeConflict,
					Message: fmt.Sprintf("%s %q: its trigger's %v; fix the definition or pass a bizdate", k.name(), rec.ID, err)})
				return
			}
		}
		params := map[string]string{}
		maps.Copy(params, src.params)
		maps.Copy(params, body.Params)

		id := uuid.NewString()
		run := &models.Run{
			ID: id, Kind: k.name(), DefinitionID: rec.ID, DefinitionName: rec.Name, Version: ver.Version,
			Group: groupOr(rec.Group), Status: string(status.RunWaiting), Trigger: trigger, Bizdate: bizdate,
			Initiator: Actor(ctx), WorkflowID: workflows.WorkflowID(id),
			CreatedAt: s.now().UTC(),
		}
		s.launch(c, run, src.flow, params)
	}
}

// launch records a new run with its params, starts its workflow on the
// snapshot and answers 201 with the run's detail: run once, test run and
// rerun.
func (s *Server) launch(c *gin.Context, run *models.Run, flow dag.Flow, params map[string]string) {
	ctx := c.Request.Context()
	encoded, err := json.Marshal(params)
	if err != nil {
		_ = c.Error(fmt.Errorf("encode run params: %w", err))
		return
	}
	run.Params = string(encoded)
	in := workflows.RunInput{RunID: run.ID, Kind: run.Kind, DefinitionID: run.DefinitionID, Version: run.Version,
		Trigger: run.Trigger, Bizdate: run.Bizdate, Params: params, Flow: flow, Mirror: true,
		OperableWindow: s.operableWindow()}
	if in.Alerts, err = s.store.RunAlertRules(ctx, run.Kind, run.Group, flow); err != nil {
		_ = c.Error(err)
		return
	}
	// Refused before the row exists: a run that cannot start is not a run.
	if err := inputSizeError(in, "this run (its definition and params)"); err != nil {
		_ = c.Error(err)
		return
	}
	if err := s.startRun(ctx, run, in); err != nil {
		_ = c.Error(err)
		return
	}
	detail, err := s.runDetail(ctx, run.ID)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusCreated, detail)
}

// startRun records the run and hands it to the engine
// (activities.LaunchRun, the one start sequence). The start is carried
// through even if the client hangs up, so a run is never left between
// recorded and started because of a closed connection. When the engine
// refuses, the row is marked failed, since no workflow exists that would
// ever move it on from waiting. That write goes through the mirror with the
// row's own rev, so if the engine did start the workflow after all, the
// workflow's own later writes win.
func (s *Server) startRun(ctx context.Context, run *models.Run, in workflows.RunInput) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	var starter activities.RunStarter
	if s.engine != nil {
		starter = s.engine
	}
	_, err := activities.LaunchRun(ctx, s.store, starter, run, in, Actor(ctx), RequestID(ctx))
	var le *activities.LaunchError
	if !errors.As(err, &le) {
		return err
	}
	switch le.Step {
	case activities.LaunchInsert:
		return le.Err
	case activities.LaunchRecord:
		// The run is started: failing the request now would invite a retry
		// and a second run. The workflow's first mirror write records the
		// Temporal run id too, so a lost write here heals itself.
		s.log.Warn("record workflow of started run", "run_id", run.ID, "err", le.Err)
		return nil
	}
	msg := fmt.Sprintf("start run: %v", le.Err)
	now := s.now().UTC()
	markErr := s.store.ApplyMirror(ctx, models.MirrorBatch{
		RunID: run.ID,
		Run:   &models.RunUpdate{Status: string(status.RunFailed), Rev: run.Rev, Message: msg, FinishedAt: &now},
		Transitions: []models.Transition{{RunID: run.ID, Entity: "run", EntityID: run.ID,
			FromStatus: string(status.RunWaiting), ToStatus: string(status.RunFailed),
			Actor: Actor(ctx), Reason: msg, RequestID: RequestID(ctx), At: now}},
	})
	if markErr != nil {
		s.log.Error("mark unstarted run failed", "run_id", run.ID, "err", markErr)
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeEngineUnavailable,
		Message: fmt.Sprintf("run %s was recorded but could not be started: %v", run.ID, le.Err),
		Details: gin.H{"run_id": run.ID}, Err: le.Err}
}

// startTimeout bounds one engine start, including marking a refused run.
const startTimeout = config.RunStartTimeout

func validBizdate(s string) bool {
	t, err := time.Parse(bizdateLayout, s)
	return err == nil && t.Format(bizdateLayout) == s
}

// today is the default bizdate: the date where the definition's trigger
// lives, so a run once at 01:00 in Shanghai is for that Shanghai day. A
// zone that does not load is refused, never taken for UTC.
func (s *Server) today(timezone string) (string, error) {
	loc, err := quartz.LoadLocation(timezone)
	if err != nil {
		return "", err
	}
	return s.now().In(loc).Format(bizdateLayout), nil
}

// runView is a run as listed and as the head of its detail.
type runView struct {
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	DefinitionID   string            `json:"definition_id"`
	DefinitionName string            `json:"definition_name"`
	Version        int               `json:"version"`
	Group          string            `json:"group"`
	Status         string            `json:"status"`
	Trigger        string            `json:"trigger"`
	Bizdate        string            `json:"bizdate"`
	Params         map[string]string `json:"params"`
	Initiator      string            `json:"initiator"`
	ParentRunID    string            `json:"parent_run_id"`
	WorkflowID     string            `json:"workflow_id"`
	TemporalRunID  string            `json:"temporal_run_id"`
	Message        string            `json:"message"`
	CreatedAt      *time.Time        `json:"created_at"`
	StartedAt      *time.Time        `json:"started_at"`
	FinishedAt     *time.Time        `json:"finished_at"`
}

type runDetail struct {
	runView
	Nodes       []nodeView       `json:"nodes"`
	Transitions []transitionView `json:"transitions"`
	// Executions are the Temporal runs of this batch: the start and one
	// per rerun-from-node.
	Executions []executionView `json:"executions"`
	// Live is set when node and instance states come from the workflow
	// rather than the mirror (?live=true on an open run).
	Live bool `json:"live,omitempty"`
}

type executionView struct {
	TemporalRunID string     `json:"temporal_run_id"`
	Reason        string     `json:"reason"`
	Node          string     `json:"node,omitempty"`
	Reexecuted    []string   `json:"reexecuted"`
	Actor         string     `json:"actor"`
	RequestID     string     `json:"request_id"`
	CreatedAt     *time.Time `json:"created_at"`
}

type nodeView struct {
	ID         string            `json:"id"`
	Status     string            `json:"status"`
	Forced     bool              `json:"forced"`
	Attempts   int               `json:"attempts"`
	Outputs    map[string]string `json:"outputs"`
	Message    string            `json:"message"`
	StartedAt  *time.Time        `json:"started_at"`
	FinishedAt *time.Time        `json:"finished_at"`
	Instances  []instanceView    `json:"instances"`
}

type instanceView struct {
	ID         string     `json:"id"`
	NodeID     string     `json:"node_id"`
	ShardIndex int        `json:"shard_index"`
	Attempt    int        `json:"attempt"`
	WorkerID   string     `json:"worker_id"`
	Host       string     `json:"host"`
	Status     string     `json:"status"`
	ExitCode   *int       `json:"exit_code"`
	Message    string     `json:"message"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	LogSize    int64      `json:"log_size"`
	// DispatchedAt is when the engine queued the instance for a worker.
	DispatchedAt *time.Time `json:"dispatched_at"`
}

type transitionView struct {
	At        *time.Time `json:"at"`
	Entity    string     `json:"entity"`
	EntityID  string     `json:"entity_id"`
	From      string     `json:"from"`
	To        string     `json:"to"`
	Actor     string     `json:"actor"`
	Reason    string     `json:"reason"`
	RequestID string     `json:"request_id"`
}

// stringMap decodes a JSON object column. A broken value is shown as empty
// rather than failing the whole page: it is display data, and the run
// itself carries its params in the workflow input.
func stringMap(s string) map[string]string {
	m := map[string]string{}
	if s != "" {
		_ = json.Unmarshal([]byte(s), &m)
	}
	if m == nil {
		// A stored "null" (a scheduled fire of a definition without
		// params) unmarshals to a nil map, which would answer null.
		m = map[string]string{}
	}
	return m
}

func viewRun(r *models.Run) runView {
	finished := utcPtr(r.FinishedAt)
	if !status.Run(r.Status).Terminal() {
		// Reopened by a retry, skip or rerun: the last finish no longer holds.
		finished = nil
	}
	return runView{ID: r.ID, Kind: r.Kind, DefinitionID: r.DefinitionID, DefinitionName: r.DefinitionName,
		Version: r.Version, Group: r.Group, Status: r.Status, Trigger: r.Trigger, Bizdate: r.Bizdate,
		Params: stringMap(r.Params), Initiator: r.Initiator, ParentRunID: r.ParentRunID, WorkflowID: r.WorkflowID,
		TemporalRunID: r.TemporalRunID, Message: r.Message, CreatedAt: utc(r.CreatedAt),
		StartedAt: utcPtr(r.StartedAt), FinishedAt: finished}
}

func viewInstance(in *models.Instance) instanceView {
	return instanceView{ID: in.ID, NodeID: in.NodeID, ShardIndex: in.ShardIndex, Attempt: in.Attempt,
		WorkerID: in.WorkerID, Host: in.Host, Status: in.Status, ExitCode: in.ExitCode, Message: in.Message,
		StartedAt: utcPtr(in.StartedAt), FinishedAt: utcPtr(in.FinishedAt), LogSize: in.LogSize,
		DispatchedAt: utcPtr(in.DispatchedAt)}
}

func (s *Server) runDetail(ctx context.Context, id string) (*runDetail, error) {
	r, err := s.store.GetRun(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.detailOf(ctx, r, "")
}

// detailOf is runDetail of a run already read, with the transitions of
// one entity kind only ("run"), or all of them ("").
func (s *Server) detailOf(ctx context.Context, r *models.Run, entity string) (*runDetail, error) {
	id := r.ID
	nodes, err := s.store.ListNodeRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	insts, err := s.store.ListInstances(ctx, id)
	if err != nil {
		return nil, err
	}
	trans, err := s.store.ListEntityTransitions(ctx, id, entity)
	if err != nil {
		return nil, err
	}
	execs, err := s.store.ListRunExecutions(ctx, id)
	if err != nil {
		return nil, err
	}
	d := &runDetail{runView: viewRun(r), Nodes: make([]nodeView, 0, len(nodes)), Transitions: make([]transitionView, 0, len(trans)),
		Executions: make([]executionView, 0, len(execs))}
	for _, e := range execs {
		reexecuted := []string{}
		if e.Reexecuted != "" {
			// Display data: a broken list shows as empty, like stringMap.
			_ = json.Unmarshal([]byte(e.Reexecuted), &reexecuted)
		}
		d.Executions = append(d.Executions, executionView{TemporalRunID: e.TemporalRunID, Reason: e.Reason, Node: e.Node,
			Reexecuted: reexecuted, Actor: e.Actor, RequestID: e.RequestID, CreatedAt: utc(e.CreatedAt)})
	}
	byNode := make(map[string][]instanceView, len(nodes))
	for i := range insts {
		byNode[insts[i].NodeID] = append(byNode[insts[i].NodeID], viewInstance(&insts[i]))
	}
	for _, n := range nodes {
		iv := byNode[n.NodeID]
		if iv == nil {
			iv = []instanceView{}
		}
		d.Nodes = append(d.Nodes, nodeView{ID: n.NodeID, Status: n.Status, Forced: n.Forced, Attempts: n.Attempts,
			Outputs: stringMap(n.Outputs), Message: n.Message, StartedAt: utcPtr(n.StartedAt),
			FinishedAt: utcPtr(n.FinishedAt), Instances: iv})
	}
	for _, t := range trans {
		d.Transitions = append(d.Transitions, transitionView{At: utc(t.At), Entity: t.Entity, EntityID: t.EntityID,
			From: t.FromStatus, To: t.ToStatus, Actor: t.Actor, Reason: t.Reason, RequestID: t.RequestID})
	}
	d.hideStaleFinish()
	return d, nil
}

// hideStaleFinish clears the finish time of nodes that are running again:
// the mirror keeps the time of the attempt before a retry.
func (d *runDetail) hideStaleFinish() {
	if !status.Run(d.Status).Terminal() {
		d.FinishedAt = nil
	}
	for i := range d.Nodes {
		if !status.Node(d.Nodes[i].Status).Terminal() {
			d.Nodes[i].FinishedAt = nil
		}
	}
}

// overlayLive replaces the run's, nodes' and instances' statuses with the
// workflow's. The console reads the mirror; this is for when it must not
// lag (an operator deciding what to do next).
func (d *runDetail) overlayLive(v control.View) {
	if v.Status != "" {
		d.Status = v.Status
	}
	byID := make(map[string]int, len(d.Nodes))
	for i, n := range d.Nodes {
		byID[n.ID] = i
	}
	for _, lv := range v.Nodes {
		i, ok := byID[lv.ID]
		if !ok {
			d.Nodes = append(d.Nodes, nodeView{ID: lv.ID, Outputs: map[string]string{}, Instances: []instanceView{}})
			i = len(d.Nodes) - 1
		}
		n := &d.Nodes[i]
		n.Status, n.Forced, n.Attempts, n.Message = lv.Status, lv.Forced, lv.Attempts, lv.Message
		for _, li := range lv.Instances {
			if li.ID == "" {
				continue
			}
			found := false
			for k := range n.Instances {
				if n.Instances[k].ID == li.ID {
					n.Instances[k].Status, found = li.Status, true
				}
			}
			if !found {
				n.Instances = append(n.Instances, instanceView{ID: li.ID, NodeID: lv.ID, ShardIndex: li.Shard,
					Attempt: li.Attempt, WorkerID: li.WorkerID, Status: li.Status})
			}
		}
	}
	d.Live = true
	d.hideStaleFinish()
}

// getRun answers the mirror's view of a run; ?live=true overlays the
// workflow's own state while the run is open, and falls back to the mirror
// when the workflow cannot answer.
func (s *Server) getRun(c *gin.Context) {
	ctx := c.Request.Context()
	if err := checkQuery(c, "live", "view"); err != nil {
		_ = c.Error(err)
		return
	}
	live, err := boolParam(c, "live")
	if err != nil {
		_ = c.Error(err)
		return
	}
	view, err := viewParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	r, err := s.store.GetRun(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	if view == "topology" {
		// An ended run's answer is cached unless a live view of a run that
		// can still be operated is asked for (the workflow answers that).
		ended := status.Run(r.Status).Terminal()
		cacheable := ended && (!live || s.engine == nil || status.Run(r.Status).Closed())
		s.answerRun(c, "topology", r, cacheable, func() (any, error) {
			// Read before the rows: a stream resuming after it replays at
			// most what the rows already show, and misses nothing. A cached
			// answer's id stands while the run's ChangeSeq does: a new
			// transition is a mirror write, which moves ChangeSeq.
			lastEvent, err := s.store.LastTransitionID(ctx, r.ID)
			if err != nil {
				return nil, err
			}
			// The topology view keeps the run's own transitions only: a
			// 10,000-node run logs some 50,000, which the full detail lists.
			d, err := s.liveDetail(ctx, r, "run", live)
			if err != nil {
				return nil, err
			}
			g, err := s.runGraph(ctx, r)
			if err != nil && !errors.Is(err, models.ErrNotFound) {
				return nil, err
			}
			t := topology(d, g, err)
			t.LastEventID = lastEvent
			return t, nil
		})
		return
	}
	d, err := s.liveDetail(ctx, r, "", live)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// liveDetail is detailOf, with the workflow's own state overlaid when live
// is asked for and the run can still be operated.
func (s *Server) liveDetail(ctx context.Context, r *models.Run, entity string, live bool) (*runDetail, error) {
	d, err := s.detailOf(ctx, r, entity)
	if err != nil {
		return nil, err
	}
	if live && s.engine != nil && !status.Run(d.Status).Closed() {
		v, err := s.engine.State(ctx, d.ID)
		switch {
		case err == nil:
			d.overlayLive(v)
		case errors.Is(err, engine.ErrRunClosed):
		default:
			s.log.Warn("live state of run", "run_id", d.ID, "err", err)
		}
	}
	return d, nil
}

func (s *Server) listRunInstances(c *gin.Context) {
	ctx := c.Request.Context()
	p, err := pageParams(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	id := c.Param("id")
	if _, err := s.store.GetRun(ctx, id); err != nil {
		_ = c.Error(err)
		return
	}
	insts, err := s.store.ListInstances(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	page := window(insts, p)
	items := make([]instanceView, len(page))
	for i := range page {
		items[i] = viewInstance(&page[i])
	}
	c.JSON(http.StatusOK, list[instanceView]{Items: items, Total: int64(len(insts)), page: p})
}

// runFilterParams are the query parameters of the runs list and its stats.
var runFilterParams = []string{"group", "definition", "definition_id", "kind", "batch_id", "backfill_id",
	"trigger", "initiator", "status", "bizdate_from", "bizdate_to", "created_from", "created_to"}

// runsTotalCap is how far the runs list counts; tests lower it.
var runsTotalCap int64 = models.DefaultRunTotalCap

// runFilter reads the runs list filters, refusing values that could only
// match nothing, so a typo is an error rather than an empty page.
func runFilter(c *gin.Context, extra ...string) (models.RunFilter, error) {
	if err := checkQuery(c, append(slices.Clone(runFilterParams), extra...)...); err != nil {
		return models.RunFilter{}, err
	}
	f := models.RunFilter{
		Group: c.Query("group"), Definition: c.Query("definition"), DefinitionID: c.Query("definition_id"),
		Kind: c.Query("kind"), BatchID: c.Query("batch_id"), BackfillID: c.Query("backfill_id"),
		Trigger: c.Query("trigger"), Initiator: c.Query("initiator"),
		BizdateFrom: c.Query("bizdate_from"), BizdateTo: c.Query("bizdate_to"),
	}
	if f.Kind != "" && f.Kind != "task" && f.Kind != "flow" {
		return f, badRequest("query parameter \"kind\" must be task or flow, got %q", f.Kind)
	}
	if f.Trigger != "" && !validTrigger(f.Trigger) {
		return f, badRequest("query parameter \"trigger\": unknown trigger type %q", f.Trigger)
	}
	if raw := c.Query("status"); raw != "" {
		for _, st := range strings.Split(raw, ",") {
			st = strings.TrimSpace(st)
			if st == "" {
				continue
			}
			if !status.Run(st).Valid() {
				return f, badRequest("query parameter \"status\": unknown run status %q", st)
			}
			f.Statuses = append(f.Statuses, st)
		}
	}
	for _, b := range []struct{ name, v string }{{"bizdate_from", f.BizdateFrom}, {"bizdate_to", f.BizdateTo}} {
		if b.v != "" && !validBizdate(b.v) {
			return f, badRequest("query parameter %q must be a date as YYYY-MM-DD, got %q", b.name, b.v)
		}
	}
	var err error
	if f.CreatedFrom, err = timeParam(c, "created_from"); err != nil {
		return f, err
	}
	if f.CreatedTo, err = timeParam(c, "created_to"); err != nil {
		return f, err
	}
	return f, nil
}

func validTrigger(t string) bool {
	switch t {
	case dag.TriggerCron, dag.TriggerFixedRate, dag.TriggerManual, dag.TriggerAPI, dag.TriggerFlow,
		dag.TriggerRerun, dag.TriggerBackfill, dag.TriggerTest:
		return true
	}
	return false
}

func timeParam(c *gin.Context, name string) (*time.Time, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return nil, badRequest("query parameter %q must be an RFC 3339 time (2006-01-02T15:04:05Z), got %q", name, raw)
	}
	t = t.UTC()
	return &t, nil
}

// runList is the runs list page: the common list envelope plus the count
// cap and the keyset cursor.
type runList struct {
	list[runView]
	// TotalCapped says Total stopped counting: at least Total runs match.
	TotalCapped bool `json:"total_capped"`
	// NextCursor fetches the following page (null on the last one); pages
	// reached through it neither skip nor repeat runs while new ones arrive.
	NextCursor *string `json:"next_cursor"`
}

func (s *Server) listRuns(c *gin.Context) {
	f, err := runFilter(c, "limit", "offset", "cursor")
	if err != nil {
		_ = c.Error(err)
		return
	}
	p, err := pageParams(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if raw := c.Query("cursor"); raw != "" {
		if p.Offset > 0 {
			_ = c.Error(badRequest("query parameters \"cursor\" and \"offset\" cannot be combined: the cursor already says where the page starts"))
			return
		}
		if f.After, err = decodeCursor(raw); err != nil {
			_ = c.Error(err)
			return
		}
	}
	f.Limit, f.Offset, f.TotalCap = p.Limit, p.Offset, runsTotalCap
	pg, err := s.store.ListRunPage(c.Request.Context(), f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	items := make([]runView, len(pg.Runs))
	for i := range pg.Runs {
		items[i] = viewRun(&pg.Runs[i])
	}
	c.JSON(http.StatusOK, runList{list: list[runView]{Items: items, Total: pg.Total, page: p},
		TotalCapped: pg.TotalCapped, NextCursor: encodeCursor(pg.Next)})
}

// runStats counts runs per status for the same filters as the list. Every
// status is present, zero included, so a badge never has to guess.
func (s *Server) runStats(c *gin.Context) {
	f, err := runFilter(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	got, err := s.store.RunStats(c.Request.Context(), f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	counts := make(map[string]int64, len(status.Runs))
	for _, st := range status.Runs {
		counts[string(st)] = 0
	}
	var total int64
	for st, n := range got {
		counts[st] = n
		total += n
	}
	c.JSON(http.StatusOK, gin.H{"counts": counts, "total": total})
}
