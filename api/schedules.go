package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
)

// Schedules follow definitions. The trigger is validated in full (Quartz
// parse and calendar compilation, fixed rate, overlap) while the body is
// parsed, so a trigger that could not become a schedule is a 400 and
// nothing is saved. What can still fail after the save is Temporal itself
// (unreachable, refusing): the change stays saved and the answer is 502
// schedule_sync_failed naming each failure. Repeating the request, POST
// .../enable or .../disable, or POST /api/v1/schedules/resync syncs again,
// because every sync makes the schedule match what the mirror holds now
// rather than replaying a change.

// syncTimeout bounds one schedule sync. The definition is already saved
// when it starts, so it is carried through even if the client hangs up.
const syncTimeout = 30 * time.Second

// syncFailure is one schedule that could not be brought in line.
type syncFailure struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version int    `json:"version,omitempty"`
	Message string `json:"message"`
}

// scheduleDef resolves the definition's current version into what its
// schedule fires, exactly as run once resolves it. A disabled flow whose
// referenced tasks are gone still gets its (paused) schedule updated from
// the unresolved flow: pausing must never depend on resolving.
func (s *Server) scheduleDef(ctx context.Context, k kind, rec record, ver versionRecord) (engine.ScheduleDef, error) {
	src, err := k.snapshot(ctx, s, rec, ver)
	var problems dag.Problems
	if errors.As(err, &problems) && !rec.Enabled && k.name() == "flow" {
		f, derr := decodeFlow(rec.ID, ver)
		if derr != nil {
			return engine.ScheduleDef{}, derr
		}
		src, err = runSource{flow: f, params: f.Params, trigger: f.Trigger}, nil
	}
	if err != nil {
		return engine.ScheduleDef{}, err
	}
	return s.scheduleDefOf(k, rec, ver, src), nil
}

func (s *Server) syncSchedule(ctx context.Context, def engine.ScheduleDef) error {
	if s.engine == nil {
		return fmt.Errorf("sync schedule of %s %s: no engine configured", def.Kind, def.DefinitionID)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), syncTimeout)
	defer cancel()
	if err := s.engine.SyncSchedule(ctx, def); err != nil {
		return fmt.Errorf("sync schedule of %s %s version %d: %w", def.Kind, def.DefinitionID, def.Version, err)
	}
	return nil
}

// syncCurrent syncs the schedule of the definition as stored now.
func (s *Server) syncCurrent(ctx context.Context, k kind, id string) []syncFailure {
	rec, ver, err := k.get(ctx, s.store, id)
	if err != nil {
		return []syncFailure{{Kind: k.name(), ID: id, Message: err.Error()}}
	}
	def, err := s.scheduleDef(ctx, k, rec, ver)
	if err == nil {
		err = s.syncSchedule(ctx, def)
	}
	if err != nil {
		return []syncFailure{{Kind: k.name(), ID: id, Version: ver.Version, Message: err.Error()}}
	}
	return nil
}

// syncDeleted removes a deleted definition's schedule. The trigger is left
// out on purpose: a deleted definition must lose its schedule even if its
// stored trigger no longer compiles.
func (s *Server) syncDeleted(ctx context.Context, k kind, rec record, ver versionRecord) []syncFailure {
	def := engine.ScheduleDef{Kind: k.name(), DefinitionID: rec.ID, DefinitionName: rec.Name, Version: ver.Version,
		Group: groupOr(rec.Group), Deleted: true, OperableWindow: s.window}
	if err := s.syncSchedule(ctx, def); err != nil {
		return []syncFailure{{Kind: k.name(), ID: rec.ID, Version: ver.Version, Message: err.Error()}}
	}
	return nil
}

// afterSave brings schedules in line with a saved task or flow: a flow
// first takes over the scheduled tasks it references (they stop firing on
// their own), then the definition's own schedule is synced, then, for a
// task, every scheduled flow that inlines it gets the new snapshot.
func (s *Server) afterSave(ctx context.Context, k kind, rec record, ver versionRecord, created bool) (imported []string, failures []syncFailure, err error) {
	imported = []string{}
	if k.name() == "flow" {
		f, err := decodeFlow(rec.ID, ver)
		if err != nil {
			return imported, nil, err
		}
		imported, failures = s.importTasks(ctx, f)
	}
	trig, err := triggerOf(k, rec.ID, ver)
	if err != nil {
		return imported, failures, err
	}
	// A new definition that does not fire has no schedule to create or
	// remove; everything else syncs, so a stale schedule left by an earlier
	// failure is repaired by the next save.
	if !created || firing(trig) {
		failures = append(failures, s.syncCurrent(ctx, k, rec.ID)...)
	}
	if k.name() == "task" && !created {
		failures = append(failures, s.syncDependents(ctx, rec.ID)...)
	}
	return imported, failures, nil
}

func triggerOf(k kind, id string, ver versionRecord) (*dag.Trigger, error) {
	if k.name() == "flow" {
		f, err := decodeFlow(id, ver)
		return f.Trigger, err
	}
	t, err := decodeTask(id, ver)
	return t.Trigger, err
}

// importTasks makes every referenced task of f that fires on its own
// (cron or fixed rate) stop doing so: it saves a new version of the task
// with trigger {"type":"flow"} and deletes its schedule. The flow now
// decides when the task runs; the task keeps its definition, and a later
// PUT can give it a trigger of its own again.
func (s *Server) importTasks(ctx context.Context, f dag.Flow) ([]string, []syncFailure) {
	imported := []string{}
	var failures []syncFailure
	seen := map[string]bool{}
	for _, n := range f.Nodes {
		if n.TaskID == "" || seen[n.TaskID] {
			continue
		}
		seen[n.TaskID] = true
		rec, ver, err := taskKind{}.get(ctx, s.store, n.TaskID)
		if err != nil {
			failures = append(failures, syncFailure{Kind: "task", ID: n.TaskID, Message: fmt.Sprintf("import into flow: %v", err)})
			continue
		}
		t, err := decodeTask(rec.ID, ver)
		if err != nil {
			failures = append(failures, syncFailure{Kind: "task", ID: n.TaskID, Message: fmt.Sprintf("import into flow: %v", err)})
			continue
		}
		if !firing(t.Trigger) {
			continue
		}
		t.Trigger = &dag.Trigger{Type: dag.TriggerFlow}
		spec, err := json.Marshal(t)
		if err != nil {
			failures = append(failures, syncFailure{Kind: "task", ID: n.TaskID, Message: fmt.Sprintf("import into flow: encode task: %v", err)})
			continue
		}
		if _, _, err := (taskKind{}).update(ctx, s.store, models.DefinitionInput{ID: rec.ID, TriggerType: dag.TriggerFlow,
			Spec: string(spec), Actor: Actor(ctx)}); err != nil {
			failures = append(failures, syncFailure{Kind: "task", ID: n.TaskID, Message: fmt.Sprintf("import into flow: %v", err)})
			continue
		}
		imported = append(imported, rec.ID)
		failures = append(failures, s.syncCurrent(ctx, taskKind{}, rec.ID)...)
	}
	return imported, failures
}

// syncDependents re-syncs the scheduled flows that reference the task, so
// that their fires run the task's new version like a run once would.
func (s *Server) syncDependents(ctx context.Context, taskID string) []syncFailure {
	var failures []syncFailure
	err := eachDefinition(ctx, s.store, flowKind{}, false, func(rec record) error {
		if rec.TriggerType != dag.TriggerCron && rec.TriggerType != dag.TriggerFixedRate {
			return nil
		}
		_, ver, err := flowKind{}.get(ctx, s.store, rec.ID)
		if errors.Is(err, models.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		f, err := decodeFlow(rec.ID, ver)
		if err != nil {
			failures = append(failures, syncFailure{Kind: "flow", ID: rec.ID, Version: ver.Version, Message: err.Error()})
			return nil
		}
		for _, n := range f.Nodes {
			if n.TaskID == taskID {
				failures = append(failures, s.syncCurrent(ctx, flowKind{}, rec.ID)...)
				break
			}
		}
		return nil
	})
	if err != nil {
		failures = append(failures, syncFailure{Kind: "task", ID: taskID, Message: fmt.Sprintf("find flows referencing the task: %v", err)})
	}
	return failures
}

// eachDefinition calls fn for every definition of a kind, a page at a time.
func eachDefinition(ctx context.Context, st *models.Store, k kind, includeDeleted bool, fn func(record) error) error {
	var all []record
	for offset := 0; ; offset += maxLimit {
		recs, total, err := k.list(ctx, st, models.ListQuery{IncludeDeleted: includeDeleted, Limit: maxLimit, Offset: offset})
		if err != nil {
			return err
		}
		all = append(all, recs...)
		if len(recs) == 0 || int64(offset+len(recs)) >= total {
			break
		}
	}
	// Collected first: fn may save definitions, which reorders the list
	// (it is sorted by update time) under a running pagination.
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// syncFailedError answers a change that was saved while its schedules
// could not all be synced.
func syncFailedError(what string, failures []syncFailure, saved any) *Error {
	msgs := make([]string, len(failures))
	for i, f := range failures {
		msgs[i] = f.Message
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeScheduleSyncFailed,
		Message: fmt.Sprintf("%s was saved, but its schedule could not be synced (repeat the request to retry): %s",
			what, strings.Join(msgs, "; ")),
		Details: gin.H{"failures": failures, "saved": saved}}
}

// resyncItem is one definition's outcome in POST /schedules/resync.
type resyncItem struct {
	Kind        string `json:"kind"`
	ID          string `json:"id"`
	Version     int    `json:"version"`
	Enabled     bool   `json:"enabled"`
	Deleted     bool   `json:"deleted"`
	TriggerType string `json:"trigger_type"`
	Result      string `json:"result"` // synced | failed
	Message     string `json:"message,omitempty"`
}

// resyncSchedules makes every schedule match the mirror again, for after a
// database restore or a Temporal namespace rebuilt from scratch. Every
// definition that fires gets its schedule (paused when disabled), and
// deleted ones that fired lose theirs. Manual definitions have none and
// are left alone. The answer lists every definition touched; failures do
// not stop the others.
func (s *Server) resyncSchedules(c *gin.Context) {
	ctx := c.Request.Context()
	items := []resyncItem{}
	failed := 0
	for _, k := range []kind{taskKind{}, flowKind{}} {
		err := eachDefinition(ctx, s.store, k, true, func(rec record) error {
			if rec.TriggerType != dag.TriggerCron && rec.TriggerType != dag.TriggerFixedRate {
				return nil
			}
			it := resyncItem{Kind: k.name(), ID: rec.ID, Version: rec.Version, Enabled: rec.Enabled,
				Deleted: rec.DeletedAt != nil, TriggerType: rec.TriggerType, Result: "synced"}
			var fails []syncFailure
			if it.Deleted {
				fails = s.syncDeleted(ctx, k, rec, versionRecord{Version: rec.Version})
			} else {
				fails = s.syncCurrent(ctx, k, rec.ID)
			}
			if len(fails) > 0 {
				it.Result, it.Message = "failed", fails[0].Message
				failed++
			}
			items = append(items, it)
			return nil
		})
		if err != nil {
			_ = c.Error(fmt.Errorf("resync schedules: %w", err))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"total": len(items), "synced": len(items) - failed, "failed": failed, "items": items})
}
