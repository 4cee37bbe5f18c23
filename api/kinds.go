package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/models"
)

// taskKind serves /api/v1/tasks.
type taskKind struct{}

func (taskKind) name() string { return "task" }

func taskRecord(t *models.Task) record {
	return record{ID: t.ID, Name: t.Name, Group: t.Group, TriggerType: t.TriggerType, CreatedBy: t.CreatedBy,
		Version: t.Version, Enabled: t.Enabled, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt, DeletedAt: deletedAt(t.DeletedAt.Time, t.DeletedAt.Valid)}
}

func taskVersionRecord(v *models.TaskVersion) versionRecord {
	return versionRecord{Version: v.Version, Spec: v.Spec, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}
}

func deletedAt(t time.Time, valid bool) *time.Time {
	if !valid {
		return nil
	}
	return &t
}

func (taskKind) create(ctx context.Context, st *models.Store, in models.DefinitionInput) (record, versionRecord, error) {
	h, v, err := st.CreateTask(ctx, in)
	if err != nil {
		return record{}, versionRecord{}, err
	}
	return taskRecord(h), taskVersionRecord(v), nil
}

func (taskKind) update(ctx context.Context, st *models.Store, in models.DefinitionInput) (record, versionRecord, error) {
	h, v, err := st.UpdateTask(ctx, in)
	if err != nil {
		return record{}, versionRecord{}, err
	}
	return taskRecord(h), taskVersionRecord(v), nil
}

func (taskKind) get(ctx context.Context, st *models.Store, id string) (record, versionRecord, error) {
	h, v, err := st.GetTask(ctx, id)
	if err != nil {
		return record{}, versionRecord{}, err
	}
	return taskRecord(h), taskVersionRecord(v), nil
}

func (taskKind) version(ctx context.Context, st *models.Store, id string, n int) (versionRecord, error) {
	v, err := st.GetTaskVersion(ctx, id, n)
	if err != nil {
		return versionRecord{}, err
	}
	return taskVersionRecord(v), nil
}

func (taskKind) list(ctx context.Context, st *models.Store, q models.ListQuery) ([]record, int64, error) {
	hs, total, err := st.ListTasks(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]record, len(hs))
	for i := range hs {
		out[i] = taskRecord(&hs[i])
	}
	return out, total, nil
}

func (taskKind) versions(ctx context.Context, st *models.Store, id string) ([]versionRecord, error) {
	vs, err := st.ListTaskVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]versionRecord, len(vs))
	for i := range vs {
		out[i] = taskVersionRecord(&vs[i])
	}
	return out, nil
}

func (taskKind) setEnabled(ctx context.Context, st *models.Store, id string, enabled bool) error {
	_, err := st.SetTaskEnabled(ctx, id, enabled)
	return err
}

func (taskKind) remove(ctx context.Context, st *models.Store, id string) error {
	return st.DeleteTask(ctx, id)
}

func (taskKind) parse(ctx context.Context, s *Server, body []byte, pathID string) (definition, error) {
	var b struct {
		ID string `json:"id,omitempty"`
		dag.Task
		readOnlyFields
	}
	if err := decodeBody(body, &b, false); err != nil {
		return definition{}, err
	}
	problems := idProblems(b.ID, pathID)
	problems = append(problems, dag.ValidateTask(&b.Task)...)
	problems = append(problems, triggerProblems("trigger", b.Trigger, problems)...)
	problems = requireName(problems, b.Name)
	channels, err := s.alertChannelProblems(ctx, ruleSet{"alerts", b.Alerts})
	if err != nil {
		return definition{}, err
	}
	if problems = append(problems, channels...); len(problems) > 0 {
		return definition{}, problems
	}
	spec, err := json.Marshal(b.Task)
	if err != nil {
		return definition{}, fmt.Errorf("encode task: %w", err)
	}
	return definition{id: b.ID, name: b.Name, group: b.Group, triggerType: triggerType(b.Trigger), spec: string(spec)}, nil
}

// requireName adds the rule that a saved definition is named, unless the
// validator already said something about the name. Inline tasks of a flow
// need no name, so the validator cannot require one for every task.
func requireName(p dag.Problems, name string) dag.Problems {
	if name != "" {
		return p
	}
	for _, q := range p {
		if q.Path == "name" {
			return p
		}
	}
	return append(p, dag.Problem{Path: "name", Message: "is required"})
}

func decodeTask(id string, ver versionRecord) (dag.Task, error) {
	var t dag.Task
	if err := json.Unmarshal([]byte(ver.Spec), &t); err != nil {
		return t, specError("task", id, ver.Version, err)
	}
	return t, nil
}

func (taskKind) view(rec record, ver versionRecord) (any, error) {
	t, err := decodeTask(rec.ID, ver)
	if err != nil {
		return nil, err
	}
	return taskView{meta: metaOf(rec, ver), Task: t}, nil
}

func (taskKind) versionItem(ver versionRecord) (versionView, error) {
	t, err := decodeTask("", ver)
	if err != nil {
		return versionView{}, err
	}
	return versionView{Version: ver.Version, CreatedAt: utc(ver.CreatedAt), CreatedBy: ver.CreatedBy, Task: &t}, nil
}

func (taskKind) snapshot(_ context.Context, _ *Server, rec record, ver versionRecord) (runSource, error) {
	t, err := decodeTask(rec.ID, ver)
	if err != nil {
		return runSource{}, err
	}
	src := runSource{flow: dag.SingleTaskFlow(rec.ID, t), params: t.Params, trigger: t.Trigger}
	if t.Trigger != nil {
		src.timezone = t.Trigger.Timezone
	}
	return src, nil
}

// flowKind serves /api/v1/flows.
type flowKind struct{}

func (flowKind) name() string { return "flow" }

func flowRecord(f *models.Flow) record {
	return record{ID: f.ID, Name: f.Name, Group: f.Group, TriggerType: f.TriggerType, CreatedBy: f.CreatedBy,
		Version: f.Version, Enabled: f.Enabled, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt, DeletedAt: deletedAt(f.DeletedAt.Time, f.DeletedAt.Valid)}
}

func flowVersionRecord(v *models.FlowVersion) versionRecord {
	return versionRecord{Version: v.Version, Spec: v.Spec, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt}
}

func (flowKind) create(ctx context.Context, st *models.Store, in models.DefinitionInput) (record, versionRecord, error) {
	h, v, err := st.CreateFlow(ctx, in)
	if err != nil {
		return record{}, versionRecord{}, err
	}
	return flowRecord(h), flowVersionRecord(v), nil
}

func (flowKind) update(ctx context.Context, st *models.Store, in models.DefinitionInput) (record, versionRecord, error) {
	h, v, err := st.UpdateFlow(ctx, in)
	if err != nil {
		return record{}, versionRecord{}, err
	}
	return flowRecord(h), flowVersionRecord(v), nil
}

func (flowKind) get(ctx context.Context, st *models.Store, id string) (record, versionRecord, error) {
	h, v, err := st.GetFlow(ctx, id)
	if err != nil {
		return record{}, versionRecord{}, err
	}
	return flowRecord(h), flowVersionRecord(v), nil
}

func (flowKind) version(ctx context.Context, st *models.Store, id string, n int) (versionRecord, error) {
	v, err := st.GetFlowVersion(ctx, id, n)
	if err != nil {
		return versionRecord{}, err
	}
	return flowVersionRecord(v), nil
}

func (flowKind) list(ctx context.Context, st *models.Store, q models.ListQuery) ([]record, int64, error) {
	hs, total, err := st.ListFlows(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]record, len(hs))
	for i := range hs {
		out[i] = flowRecord(&hs[i])
	}
	return out, total, nil
}

func (flowKind) versions(ctx context.Context, st *models.Store, id string) ([]versionRecord, error) {
	vs, err := st.ListFlowVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]versionRecord, len(vs))
	for i := range vs {
		out[i] = flowVersionRecord(&vs[i])
	}
	return out, nil
}

func (flowKind) setEnabled(ctx context.Context, st *models.Store, id string, enabled bool) error {
	_, err := st.SetFlowEnabled(ctx, id, enabled)
	return err
}

func (flowKind) remove(ctx context.Context, st *models.Store, id string) error {
	return st.DeleteFlow(ctx, id)
}

func (flowKind) parse(ctx context.Context, s *Server, body []byte, pathID string) (definition, error) {
	var b struct {
		ID string `json:"id,omitempty"`
		dag.Flow
		readOnlyFields
	}
	if err := decodeBody(body, &b, false); err != nil {
		return definition{}, err
	}
	tasks := s.taskLookup(ctx)
	problems := idProblems(b.ID, pathID)
	problems = append(problems, dag.ValidateFlow(&b.Flow, dag.Options{TaskExists: tasks.exists})...)
	if tasks.err != nil {
		// A failed lookup is not a missing task; saying so would send the
		// user hunting for a problem in their flow.
		return definition{}, tasks.err
	}
	problems = append(problems, triggerProblems("trigger", b.Trigger, problems)...)
	problems = requireName(problems, b.Name)
	channels, err := s.alertChannelProblems(ctx, flowRuleSets(&b.Flow)...)
	if err != nil {
		return definition{}, err
	}
	if problems = append(problems, channels...); len(problems) > 0 {
		return definition{}, problems
	}
	spec, err := json.Marshal(b.Flow)
	if err != nil {
		return definition{}, fmt.Errorf("encode flow: %w", err)
	}
	return definition{id: b.ID, name: b.Name, group: b.Group, triggerType: triggerType(b.Trigger), spec: string(spec)}, nil
}

func decodeFlow(id string, ver versionRecord) (dag.Flow, error) {
	var f dag.Flow
	if err := json.Unmarshal([]byte(ver.Spec), &f); err != nil {
		return f, specError("flow", id, ver.Version, err)
	}
	return f, nil
}

func (flowKind) view(rec record, ver versionRecord) (any, error) {
	f, err := decodeFlow(rec.ID, ver)
	if err != nil {
		return nil, err
	}
	return flowView{meta: metaOf(rec, ver), Flow: f}, nil
}

func (flowKind) versionItem(ver versionRecord) (versionView, error) {
	f, err := decodeFlow("", ver)
	if err != nil {
		return versionView{}, err
	}
	return versionView{Version: ver.Version, CreatedAt: utc(ver.CreatedAt), CreatedBy: ver.CreatedBy, Flow: &f}, nil
}

// snapshot inlines the latest version of every referenced task, so the run
// executes what the tasks say now and later edits cannot reach it. A task
// deleted since the flow was saved makes the flow unrunnable; every such
// node is reported.
func (flowKind) snapshot(ctx context.Context, s *Server, rec record, ver versionRecord) (runSource, error) {
	f, err := decodeFlow(rec.ID, ver)
	if err != nil {
		return runSource{}, err
	}
	tasks := s.taskLookup(ctx)
	var problems dag.Problems
	for i := range f.Nodes {
		n := &f.Nodes[i]
		if n.TaskID == "" {
			continue
		}
		t, err := tasks.get(n.TaskID)
		if errors.Is(err, models.ErrNotFound) {
			problems = append(problems, dag.Problem{Path: fmt.Sprintf("nodes[%d].task_id", i),
				Message: fmt.Sprintf("task %q does not exist", n.TaskID)})
			continue
		}
		if err != nil {
			return runSource{}, err
		}
		n.Task = &t
	}
	if len(problems) > 0 {
		return runSource{}, problems
	}
	src := runSource{flow: f, params: f.Params, trigger: f.Trigger}
	if f.Trigger != nil {
		src.timezone = f.Trigger.Timezone
	}
	return src, nil
}

// taskLookup reads referenced tasks once per request, however many nodes
// name them: a 10,000-node flow may reference few tasks many times.
type taskLookup struct {
	ctx   context.Context
	store *models.Store
	seen  map[string]taskResult
	err   error // first failure that was not ErrNotFound
}

type taskResult struct {
	task dag.Task
	err  error
}

func (s *Server) taskLookup(ctx context.Context) *taskLookup {
	return &taskLookup{ctx: ctx, store: s.store, seen: map[string]taskResult{}}
}

func (l *taskLookup) get(id string) (dag.Task, error) {
	if r, ok := l.seen[id]; ok {
		return r.task, r.err
	}
	var r taskResult
	h, v, err := l.store.GetTask(l.ctx, id)
	if err != nil {
		r.err = err
	} else {
		r.task, r.err = decodeTask(h.ID, taskVersionRecord(v))
	}
	l.seen[id] = r
	if r.err != nil && !errors.Is(r.err, models.ErrNotFound) && l.err == nil {
		l.err = r.err
	}
	return r.task, r.err
}

func (l *taskLookup) exists(id string) bool {
	_, err := l.get(id)
	return err == nil
}
