package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/models"
)

const defaultGroup = "default"

// record is the part of a task or flow head row the shared handlers use.
type record struct {
	ID, Name, Group, TriggerType, CreatedBy string
	Version                                 int
	Enabled                                 bool
	CreatedAt, UpdatedAt                    time.Time
	DeletedAt                               *time.Time
}

// versionRecord is one saved version of a task or flow.
type versionRecord struct {
	Version   int
	Spec      string
	CreatedBy string
	CreatedAt time.Time
}

// definition is a parsed, validated request body.
type definition struct {
	id          string // from the body; empty when not given
	name, group string
	triggerType string
	spec        string // canonical JSON, without the id
}

// kind adapts tasks or flows to the shared definition handlers: the two
// differ in their store calls and their body, never in their HTTP
// behaviour.
type kind interface {
	name() string // "task" or "flow"; also the run kind
	create(ctx context.Context, st *models.Store, in models.DefinitionInput) (record, versionRecord, error)
	update(ctx context.Context, st *models.Store, in models.DefinitionInput) (record, versionRecord, error)
	get(ctx context.Context, st *models.Store, id string) (record, versionRecord, error)
	version(ctx context.Context, st *models.Store, id string, n int) (versionRecord, error)
	list(ctx context.Context, st *models.Store, q models.ListQuery) ([]record, int64, error)
	versions(ctx context.Context, st *models.Store, id string) ([]versionRecord, error)
	setEnabled(ctx context.Context, st *models.Store, id string, enabled bool) error
	remove(ctx context.Context, st *models.Store, id string) error

	// parse decodes and validates a body. Validation problems come back as
	// dag.Problems, all of them, together with any in the id.
	parse(ctx context.Context, s *Server, body []byte, pathID string) (definition, error)
	// view renders the head and a version as the flattened definition.
	view(rec record, ver versionRecord) (any, error)
	// versionItem renders one version of the versions list.
	versionItem(ver versionRecord) (versionView, error)
	// snapshot resolves the current version into what a run executes.
	snapshot(ctx context.Context, s *Server, rec record, ver versionRecord) (runSource, error)
}

// runSource is what a run once needs from its definition.
type runSource struct {
	flow     dag.Flow
	params   map[string]string
	timezone string
	// trigger is the definition's own, which its schedule is made from.
	trigger *dag.Trigger
}

// meta is the stored state every definition view carries next to its spec.
type meta struct {
	ID        string     `json:"id"`
	Version   int        `json:"version"`
	Enabled   bool       `json:"enabled"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	CreatedBy string     `json:"created_by"`
	UpdatedBy string     `json:"updated_by"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

func metaOf(rec record, ver versionRecord) meta {
	return meta{ID: rec.ID, Version: ver.Version, Enabled: rec.Enabled, CreatedAt: utc(rec.CreatedAt),
		UpdatedAt: utc(rec.UpdatedAt), CreatedBy: rec.CreatedBy, UpdatedBy: ver.CreatedBy, DeletedAt: utcPtr(rec.DeletedAt)}
}

type taskView struct {
	meta
	dag.Task
}

type flowView struct {
	meta
	dag.Flow
}

// summary is a list row: the head only, so a page costs one query rather
// than one per definition.
type summary struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Group       string     `json:"group"`
	Version     int        `json:"version"`
	Enabled     bool       `json:"enabled"`
	TriggerType string     `json:"trigger_type"`
	CreatedBy   string     `json:"created_by"`
	CreatedAt   *time.Time `json:"created_at"`
	UpdatedAt   *time.Time `json:"updated_at"`
	DeletedAt   *time.Time `json:"deleted_at,omitempty"`
}

type versionView struct {
	Version   int        `json:"version"`
	CreatedAt *time.Time `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	Task      *dag.Task  `json:"task,omitempty"`
	Flow      *dag.Flow  `json:"flow,omitempty"`
}

// readOnlyFields lists the view fields a body may carry and that are ignored, so
// that what GET returned can be edited and PUT back as is.
type readOnlyFields struct {
	Version   json.RawMessage `json:"version,omitempty"`
	Enabled   json.RawMessage `json:"enabled,omitempty"`
	CreatedAt json.RawMessage `json:"created_at,omitempty"`
	UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
	CreatedBy json.RawMessage `json:"created_by,omitempty"`
	UpdatedBy json.RawMessage `json:"updated_by,omitempty"`
	DeletedAt json.RawMessage `json:"deleted_at,omitempty"`
}

// idProblems checks the id of a body: optional on create, and when given on
// update it must be the one in the URL.
func idProblems(bodyID, pathID string) dag.Problems {
	switch {
	case bodyID == "":
		return nil
	case pathID != "" && bodyID != pathID:
		return dag.Problems{{Path: "id", Message: fmt.Sprintf("%q does not match the id in the URL %q", bodyID, pathID)}}
	case !dag.ValidID(bodyID):
		return dag.Problems{{Path: "id", Message: fmt.Sprintf("%q must be 1 to 64 of A-Z a-z 0-9 _ . -", bodyID)}}
	}
	return nil
}

func triggerType(t *dag.Trigger) string {
	if t == nil || t.Type == "" {
		return dag.TriggerManual
	}
	return t.Type
}

func groupOr(g string) string {
	if g == "" {
		return defaultGroup
	}
	return g
}

func (s *Server) createDefinition(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		body, err := c.GetRawData()
		if err != nil {
			_ = c.Error(err)
			return
		}
		def, err := k.parse(ctx, s, body, "")
		if err != nil {
			_ = c.Error(err)
			return
		}
		if def.id == "" {
			def.id = uuid.NewString()
		}
		auditTarget(c, def.id)
		if err := s.definitionSizeError(ctx, k, def.id, def); err != nil {
			_ = c.Error(err)
			return
		}
		rec, ver, err := k.create(ctx, s.store, models.DefinitionInput{ID: def.id, Name: def.name, Group: groupOr(def.group),
			TriggerType: def.triggerType, Spec: def.spec, Actor: Actor(ctx), Enabled: true})
		if err != nil {
			_ = c.Error(err)
			return
		}
		s.respondSaved(c, k, http.StatusCreated, rec, ver, true)
	}
}

// respondSaved syncs the schedules a save affects and answers with the
// saved definition; a flow's answer lists the tasks it took over
// (imported_tasks). A failed sync is a 502 that still carries the saved
// definition, since the save itself stands.
func (s *Server) respondSaved(c *gin.Context, k kind, status int, rec record, ver versionRecord, created bool) {
	ctx := c.Request.Context()
	imported, failures, err := s.afterSave(ctx, k, rec, ver, created)
	if err != nil {
		_ = c.Error(err)
		return
	}
	v, err := k.view(rec, ver)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if fv, ok := v.(flowView); ok {
		v = flowSaved{flowView: fv, ImportedTasks: imported}
	}
	if len(failures) > 0 {
		_ = c.Error(syncFailedError(fmt.Sprintf("%s %s version %d", k.name(), rec.ID, ver.Version), failures, v))
		return
	}
	c.JSON(status, v)
}

// flowSaved is a flow as a create or update answers it.
type flowSaved struct {
	flowView
	// ImportedTasks are the referenced tasks that fired on their own and
	// now only run inside flows (their trigger became "flow").
	ImportedTasks []string `json:"imported_tasks"`
}

func (s *Server) updateDefinition(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := c.Param("id")
		// A missing definition is the more basic answer than a bad body.
		if _, _, err := k.get(ctx, s.store, id); err != nil {
			_ = c.Error(err)
			return
		}
		body, err := c.GetRawData()
		if err != nil {
			_ = c.Error(err)
			return
		}
		def, err := k.parse(ctx, s, body, id)
		if err != nil {
			_ = c.Error(err)
			return
		}
		if err := s.definitionSizeError(ctx, k, id, def); err != nil {
			_ = c.Error(err)
			return
		}
		rec, ver, err := k.update(ctx, s.store, models.DefinitionInput{ID: id, Name: def.name, Group: groupOr(def.group),
			TriggerType: def.triggerType, Spec: def.spec, Actor: Actor(ctx)})
		if err != nil {
			_ = c.Error(err)
			return
		}
		s.respondSaved(c, k, http.StatusOK, rec, ver, false)
	}
}

func (s *Server) getDefinition(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		rec, ver, err := k.get(c.Request.Context(), s.store, c.Param("id"))
		if err != nil {
			_ = c.Error(err)
			return
		}
		s.respondDefinition(c, k, http.StatusOK, rec, ver)
	}
}

func (s *Server) respondDefinition(c *gin.Context, k kind, status int, rec record, ver versionRecord) {
	v, err := k.view(rec, ver)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(status, v)
}

func (s *Server) listDefinitions(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := pageParams(c)
		if err != nil {
			_ = c.Error(err)
			return
		}
		deleted, err := boolParam(c, "include_deleted")
		if err != nil {
			_ = c.Error(err)
			return
		}
		recs, total, err := k.list(c.Request.Context(), s.store, models.ListQuery{
			Name: c.Query("name"), Group: c.Query("group"), IncludeDeleted: deleted, Limit: p.Limit, Offset: p.Offset})
		if err != nil {
			_ = c.Error(err)
			return
		}
		items := make([]summary, len(recs))
		for i, r := range recs {
			items[i] = summary{ID: r.ID, Name: r.Name, Group: r.Group, Version: r.Version, Enabled: r.Enabled,
				TriggerType: r.TriggerType, CreatedBy: r.CreatedBy, CreatedAt: utc(r.CreatedAt),
				UpdatedAt: utc(r.UpdatedAt), DeletedAt: utcPtr(r.DeletedAt)}
		}
		c.JSON(http.StatusOK, list[summary]{Items: items, Total: total, page: p})
	}
}

// deleteDefinition hides and disables the definition and deletes its
// schedule; runs already started go on with their version.
func (s *Server) deleteDefinition(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := c.Param("id")
		rec, ver, err := k.get(ctx, s.store, id)
		if err != nil {
			_ = c.Error(err)
			return
		}
		if err := k.remove(ctx, s.store, id); err != nil {
			_ = c.Error(err)
			return
		}
		if failures := s.syncDeleted(ctx, k, rec, ver); len(failures) > 0 {
			_ = c.Error(syncFailedError(fmt.Sprintf("the delete of %s %s", k.name(), id), failures, nil))
			return
		}
		c.Status(http.StatusNoContent)
	}
}

// setEnabled turns the definition's schedule on or off (paused). Enabling
// first checks that the schedule can be made (a flow's referenced tasks
// still exist), so a refusal leaves the definition as it was.
func (s *Server) setEnabled(k kind, enabled bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		id := c.Param("id")
		if enabled {
			rec, ver, err := k.get(ctx, s.store, id)
			if err != nil {
				_ = c.Error(err)
				return
			}
			rec.Enabled = true
			if _, err := s.scheduleDef(ctx, k, rec, ver); err != nil {
				_ = c.Error(err)
				return
			}
		}
		if err := k.setEnabled(ctx, s.store, id, enabled); err != nil {
			_ = c.Error(err)
			return
		}
		failures := s.syncCurrent(ctx, k, id)
		rec, ver, err := k.get(ctx, s.store, id)
		if err != nil {
			_ = c.Error(err)
			return
		}
		if len(failures) > 0 {
			v, err := k.view(rec, ver)
			if err != nil {
				_ = c.Error(err)
				return
			}
			verb := "disable"
			if enabled {
				verb = "enable"
			}
			_ = c.Error(syncFailedError(fmt.Sprintf("the %s of %s %s", verb, k.name(), id), failures, v))
			return
		}
		s.respondDefinition(c, k, http.StatusOK, rec, ver)
	}
}

// listVersions keeps working after a delete: runs pin versions, and their
// definitions must stay readable.
func (s *Server) listVersions(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, err := pageParams(c)
		if err != nil {
			_ = c.Error(err)
			return
		}
		vers, err := k.versions(c.Request.Context(), s.store, c.Param("id"))
		if err != nil {
			_ = c.Error(err)
			return
		}
		page := window(vers, p)
		items := make([]versionView, len(page))
		for i, v := range page {
			if items[i], err = k.versionItem(v); err != nil {
				_ = c.Error(err)
				return
			}
		}
		c.JSON(http.StatusOK, list[versionView]{Items: items, Total: int64(len(vers)), page: p})
	}
}

func (s *Server) getVersion(k kind) gin.HandlerFunc {
	return func(c *gin.Context) {
		n, err := strconv.Atoi(c.Param("version"))
		if err != nil || n < 1 {
			_ = c.Error(badRequest("version must be a positive integer, got %q", c.Param("version")))
			return
		}
		ver, err := k.version(c.Request.Context(), s.store, c.Param("id"), n)
		if err != nil {
			_ = c.Error(err)
			return
		}
		item, err := k.versionItem(ver)
		if err != nil {
			_ = c.Error(err)
			return
		}
		c.JSON(http.StatusOK, item)
	}
}

// validateFlow answers whether a flow body would be accepted, without
// saving anything.
func (s *Server) validateFlow(c *gin.Context) {
	body, err := c.GetRawData()
	if err != nil {
		_ = c.Error(err)
		return
	}
	def, err := (flowKind{}).parse(c.Request.Context(), s, body, "")
	if err != nil {
		_ = c.Error(err)
		return
	}
	if err := s.definitionSizeError(c.Request.Context(), flowKind{}, "validate", def); err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"valid": true})
}

// specError reports a stored spec that no longer decodes. It can only come
// from a bug or a hand-edited database, so it is a 500 that says which row.
func specError(k, id string, version int, err error) error {
	return fmt.Errorf("decode %s %q version %d: %w", k, id, version, err)
}
