package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrInvalid reports an argument a store refuses before touching the
// database (missing id, unknown role); the API maps it to 400.
var ErrInvalid = errors.New("invalid argument")

// ListQuery selects definitions.
type ListQuery struct {
	Name           string // substring of the name, or an exact id
	Group          string
	IncludeDeleted bool
	Limit, Offset  int // Limit 0 => 50, at most 500
}

// DefinitionInput is one save of a task or flow. Spec is the definition
// JSON; Actor is recorded as the author of the version.
type DefinitionInput struct {
	ID, Name, Group, TriggerType, Spec, Actor string
	Enabled                                   bool
}

const (
	defaultLimit = 50
	maxLimit     = 500
)

func pageLimit(limit int) int {
	switch {
	case limit <= 0:
		return defaultLimit
	case limit > maxLimit:
		return maxLimit
	}
	return limit
}

func pageOffset(offset int) int {
	if offset < 0 {
		return 0
	}
	return offset
}

// likeEscaper makes user text match literally inside LIKE. '!' is the
// escape character because a backslash means different things in MySQL and
// SQLite string literals.
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

func likeContains(s string) string { return "%" + likeEscaper.Replace(s) + "%" }

// forUpdate row-locks what a query reads on MySQL. SQLite needs no lock:
// Open begins every transaction IMMEDIATE, so writers are already serialized.
func (s *Store) forUpdate(tx *gorm.DB) *gorm.DB {
	if s.dialect == "mysql" {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// defKind describes one kind of versioned definition so tasks and flows
// share a single implementation: H is the head row, V the version row.
type defKind[H Task | Flow, V TaskVersion | FlowVersion] struct {
	name    string // "task" or "flow", used in operation names
	fk      string // column of V naming its head
	head    func(in DefinitionInput, now time.Time) *H
	version func(id string, n int, spec, actor string, now time.Time) *V
	current func(h *H) (id string, version int)
}

var taskKind = defKind[Task, TaskVersion]{
	name: "task",
	fk:   "task_id",
	head: func(in DefinitionInput, now time.Time) *Task {
		return &Task{ID: in.ID, Name: in.Name, Group: in.Group, Version: 1, Enabled: in.Enabled,
			TriggerType: in.TriggerType, CreatedBy: in.Actor, CreatedAt: now, UpdatedAt: now}
	},
	version: func(id string, n int, spec, actor string, now time.Time) *TaskVersion {
		return &TaskVersion{TaskID: id, Version: n, Spec: spec, CreatedBy: actor, CreatedAt: now}
	},
	current: func(h *Task) (string, int) { return h.ID, h.Version },
}

var flowKind = defKind[Flow, FlowVersion]{
	name: "flow",
	fk:   "flow_id",
	head: func(in DefinitionInput, now time.Time) *Flow {
		return &Flow{ID: in.ID, Name: in.Name, Group: in.Group, Version: 1, Enabled: in.Enabled,
			TriggerType: in.TriggerType, CreatedBy: in.Actor, CreatedAt: now, UpdatedAt: now}
	},
	version: func(id string, n int, spec, actor string, now time.Time) *FlowVersion {
		return &FlowVersion{FlowID: id, Version: n, Spec: spec, CreatedBy: actor, CreatedAt: now}
	},
	current: func(h *Flow) (string, int) { return h.ID, h.Version },
}

func (k defKind[H, V]) create(ctx context.Context, s *Store, in DefinitionInput) (*H, *V, error) {
	op := "create " + k.name
	if in.ID == "" {
		return nil, nil, fmt.Errorf("%s: id is required: %w", op, ErrInvalid)
	}
	now := s.now()
	h := k.head(in, now)
	v := k.version(in.ID, 1, in.Spec, in.Actor, now)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Soft-deleted ids stay taken: their versions and runs still refer
		// to them, and reusing one would splice two histories together.
		var n int64
		if err := tx.Unscoped().Model(new(H)).Where("id = ?", in.ID).Count(&n).Error; err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%s %q exists: %w", k.name, in.ID, gorm.ErrDuplicatedKey)
		}
		if err := tx.Create(h).Error; err != nil {
			return err
		}
		return tx.Create(v).Error
	})
	if err != nil {
		return nil, nil, wrap(op, err)
	}
	return h, v, nil
}

func (k defKind[H, V]) update(ctx context.Context, s *Store, in DefinitionInput) (*H, *V, error) {
	op := "update " + k.name
	var (
		h = new(H)
		v *V
	)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// The lock makes concurrent saves take turns, so each reads the
		// version the previous one wrote instead of both claiming N+1.
		if err := s.forUpdate(tx).Where("id = ?", in.ID).Take(h).Error; err != nil {
			return err
		}
		_, cur := k.current(h)
		now := s.now()
		v = k.version(in.ID, cur+1, in.Spec, in.Actor, now)
		if err := tx.Create(v).Error; err != nil {
			return err
		}
		set := map[string]any{"version": cur + 1, "updated_at": now}
		// Head attributes left empty keep their value, so a caller that
		// only changes the spec need not repeat them.
		if in.Name != "" {
			set["name"] = in.Name
		}
		if in.Group != "" {
			set["group_name"] = in.Group
		}
		if in.TriggerType != "" {
			set["trigger_type"] = in.TriggerType
		}
		if err := tx.Model(new(H)).Where("id = ?", in.ID).Updates(set).Error; err != nil {
			return err
		}
		return tx.Where("id = ?", in.ID).Take(h).Error
	})
	if err != nil {
		return nil, nil, wrap(op, err)
	}
	return h, v, nil
}

func (k defKind[H, V]) get(ctx context.Context, s *Store, id string) (*H, *V, error) {
	op := "get " + k.name
	h, v := new(H), new(V)
	db := s.db.WithContext(ctx)
	if err := db.Where("id = ?", id).Take(h).Error; err != nil {
		return nil, nil, wrap(op, err)
	}
	_, cur := k.current(h)
	if err := db.Where(k.fk+" = ? AND version = ?", id, cur).Take(v).Error; err != nil {
		return nil, nil, wrap(op, err)
	}
	return h, v, nil
}

func (k defKind[H, V]) getVersion(ctx context.Context, s *Store, id string, version int) (*V, error) {
	v := new(V)
	err := s.db.WithContext(ctx).Where(k.fk+" = ? AND version = ?", id, version).Take(v).Error
	if err != nil {
		return nil, wrap("get "+k.name+" version", err)
	}
	return v, nil
}

func (k defKind[H, V]) list(ctx context.Context, s *Store, q ListQuery) ([]H, int64, error) {
	op := "list " + k.name + "s"
	db := s.db.WithContext(ctx).Model(new(H))
	if q.IncludeDeleted {
		db = db.Unscoped()
	}
	if q.Name != "" {
		db = db.Where("(name LIKE ? ESCAPE '!' OR id = ?)", likeContains(q.Name), q.Name)
	}
	if q.Group != "" {
		db = db.Where("group_name = ?", q.Group)
	}
	var total int64
	if err := db.Count(&total).Error; err != nil {
		return nil, 0, wrap(op, err)
	}
	out := []H{}
	err := db.Order("updated_at DESC").Order("id").
		Limit(pageLimit(q.Limit)).Offset(pageOffset(q.Offset)).Find(&out).Error
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}

func (k defKind[H, V]) listVersions(ctx context.Context, s *Store, id string) ([]V, error) {
	op := "list " + k.name + " versions"
	db := s.db.WithContext(ctx)
	var n int64
	if err := db.Unscoped().Model(new(H)).Where("id = ?", id).Count(&n).Error; err != nil {
		return nil, wrap(op, err)
	}
	if n == 0 {
		return nil, wrap(op, gorm.ErrRecordNotFound)
	}
	out := []V{}
	if err := db.Where(k.fk+" = ?", id).Order("version DESC").Find(&out).Error; err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

func (k defKind[H, V]) setEnabled(ctx context.Context, s *Store, id string, enabled bool) (*H, error) {
	op := "enable " + k.name
	if !enabled {
		op = "disable " + k.name
	}
	h := new(H)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Read first: MySQL reports 0 affected rows when the value does not
		// change, which must not look like a missing definition.
		if err := s.forUpdate(tx).Where("id = ?", id).Take(h).Error; err != nil {
			return err
		}
		err := tx.Model(new(H)).Where("id = ?", id).
			Updates(map[string]any{"enabled": enabled, "updated_at": s.now()}).Error
		if err != nil {
			return err
		}
		return tx.Where("id = ?", id).Take(h).Error
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return h, nil
}

func (k defKind[H, V]) delete(ctx context.Context, s *Store, id string) error {
	op := "delete " + k.name
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.forUpdate(tx).Where("id = ?", id).Take(new(H)).Error; err != nil {
			return err
		}
		// Disabled as well as hidden, so a scheduler that still holds the
		// head (or an IncludeDeleted listing) never treats it as live.
		err := tx.Model(new(H)).Where("id = ?", id).
			Updates(map[string]any{"enabled": false, "updated_at": s.now()}).Error
		if err != nil {
			return err
		}
		return tx.Where("id = ?", id).Delete(new(H)).Error
	})
	return wrap(op, err)
}

// now is the store's clock, normalized like every stored time.
func (s *Store) now() time.Time { return norm(time.Now()) }

// CreateTask saves version 1 of a new task. ErrConflict if the id was ever
// used, even by a deleted task.
func (s *Store) CreateTask(ctx context.Context, in DefinitionInput) (*Task, *TaskVersion, error) {
	return taskKind.create(ctx, s, in)
}

// UpdateTask saves the next version of a live task and moves its head to it.
// Enabled is not changed. Empty Name, Group or TriggerType keep the stored
// value.
func (s *Store) UpdateTask(ctx context.Context, in DefinitionInput) (*Task, *TaskVersion, error) {
	return taskKind.update(ctx, s, in)
}

// GetTask returns a live task and its latest version.
func (s *Store) GetTask(ctx context.Context, id string) (*Task, *TaskVersion, error) {
	return taskKind.get(ctx, s, id)
}

// GetTaskVersion returns one version, also of a deleted task.
func (s *Store) GetTaskVersion(ctx context.Context, id string, version int) (*TaskVersion, error) {
	return taskKind.getVersion(ctx, s, id, version)
}

// ListTasks pages tasks, most recently updated first, with the total count.
func (s *Store) ListTasks(ctx context.Context, q ListQuery) ([]Task, int64, error) {
	return taskKind.list(ctx, s, q)
}

// ListTaskVersions returns every version of a task, newest first.
func (s *Store) ListTaskVersions(ctx context.Context, id string) ([]TaskVersion, error) {
	return taskKind.listVersions(ctx, s, id)
}

// SetTaskEnabled turns a live task's triggers on or off.
func (s *Store) SetTaskEnabled(ctx context.Context, id string, enabled bool) (*Task, error) {
	return taskKind.setEnabled(ctx, s, id, enabled)
}

// DeleteTask disables and hides a task, keeping its versions.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	return taskKind.delete(ctx, s, id)
}

// CreateFlow saves version 1 of a new flow. ErrConflict if the id was ever
// used, even by a deleted flow.
func (s *Store) CreateFlow(ctx context.Context, in DefinitionInput) (*Flow, *FlowVersion, error) {
	return flowKind.create(ctx, s, in)
}

// UpdateFlow saves the next version of a live flow and moves its head to it.
// Enabled is not changed. Empty Name, Group or TriggerType keep the stored
// value.
func (s *Store) UpdateFlow(ctx context.Context, in DefinitionInput) (*Flow, *FlowVersion, error) {
	return flowKind.update(ctx, s, in)
}

// GetFlow returns a live flow and its latest version.
func (s *Store) GetFlow(ctx context.Context, id string) (*Flow, *FlowVersion, error) {
	return flowKind.get(ctx, s, id)
}

// GetFlowVersion returns one version, also of a deleted flow.
func (s *Store) GetFlowVersion(ctx context.Context, id string, version int) (*FlowVersion, error) {
	return flowKind.getVersion(ctx, s, id, version)
}

// ListFlows pages flows, most recently updated first, with the total count.
func (s *Store) ListFlows(ctx context.Context, q ListQuery) ([]Flow, int64, error) {
	return flowKind.list(ctx, s, q)
}

// ListFlowVersions returns every version of a flow, newest first.
func (s *Store) ListFlowVersions(ctx context.Context, id string) ([]FlowVersion, error) {
	return flowKind.listVersions(ctx, s, id)
}

// SetFlowEnabled turns a live flow's triggers on or off.
func (s *Store) SetFlowEnabled(ctx context.Context, id string, enabled bool) (*Flow, error) {
	return flowKind.setEnabled(ctx, s, id, enabled)
}

// DeleteFlow disables and hides a flow, keeping its versions.
func (s *Store) DeleteFlow(ctx context.Context, id string) error {
	return flowKind.delete(ctx, s, id)
}
