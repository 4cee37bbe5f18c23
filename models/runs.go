package models

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/baton-sched/baton/internal/status"
)

// RunFilter selects runs for the runs list and its status counts.
type RunFilter struct {
	Group        string
	Definition   string // definition id (exact) or name (substring)
	DefinitionID string // definition id, exact
	Kind         string
	BatchID      string
	BackfillID   string
	Trigger      string
	Initiator    string
	Statuses     []string

	BizdateFrom, BizdateTo string     // inclusive, YYYY-MM-DD
	CreatedFrom, CreatedTo *time.Time // start-time range, inclusive

	Limit, Offset int // Limit 0 => 50, at most 500
	// After is the keyset cursor: only runs listed after it (older, or as
	// old with a smaller id) are returned. Unlike Offset it holds still
	// while new runs arrive.
	After *RunCursor
	// TotalCap bounds the count: 0 => DefaultRunTotalCap.
	TotalCap int64
}

// RunCursor is a position in the runs list order (created_at DESC, id DESC).
type RunCursor struct {
	CreatedAt time.Time
	ID        string
}

// DefaultRunTotalCap is how far ListRuns counts. An exact COUNT(*) over a
// year of runs reads every matching row; counting stops here instead and
// the page says the total is at least this.
const DefaultRunTotalCap = 10_000

// RunPage is one page of the runs list.
type RunPage struct {
	Runs []Run
	// Total is the number of runs the filter matches, exact unless
	// TotalCapped, when at least Total match.
	Total       int64
	TotalCapped bool
	// Next is the cursor of the following page; nil on the last one.
	Next *RunCursor
}

// CreateRun inserts a run. ErrConflict if the id exists.
func (s *Store) CreateRun(ctx context.Context, r *Run) error {
	// UTC everywhere: SQLite compares times as text, so a row written with
	// another offset would sort and filter wrongly.
	r.CreatedAt = norm(r.CreatedAt)
	r.StartedAt = normPtr(r.StartedAt)
	r.FinishedAt = normPtr(r.FinishedAt)
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.now()
	}
	return wrap("create run", s.db.WithContext(ctx).Create(r).Error)
}

// GetRun returns one run.
func (s *Store) GetRun(ctx context.Context, id string) (*Run, error) {
	var r Run
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&r).Error; err != nil {
		return nil, wrap("get run", err)
	}
	return &r, nil
}

// SetRunWorkflow records the Temporal execution that carries a run.
func (s *Store) SetRunWorkflow(ctx context.Context, id, workflowID, temporalRunID string) error {
	const op = "set run workflow"
	db := s.db.WithContext(ctx)
	res := db.Model(&Run{}).Where("id = ?", id).Updates(map[string]any{
		"workflow_id": workflowID, "temporal_run_id": temporalRunID, "updated_at": s.now(),
		"change_seq": gorm.Expr("change_seq + 1"),
	})
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap(op, s.mustExist(db, &Run{}, "id = ?", id))
	}
	return nil
}

// mustExist tells a missing row from an UPDATE that changed nothing, which
// MySQL also reports as 0 affected rows.
func (s *Store) mustExist(db *gorm.DB, model any, where string, args ...any) error {
	var n int64
	if err := db.Model(model).Where(where, args...).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return gorm.ErrRecordNotFound
	}
	return nil
}

// runScope applies every filter but statuses and paging.
func runScope(db *gorm.DB, f RunFilter) *gorm.DB {
	db = db.Model(&Run{})
	if f.Group != "" {
		db = db.Where("group_name = ?", f.Group)
	}
	if f.DefinitionID != "" {
		db = db.Where("definition_id = ?", f.DefinitionID)
	}
	if f.Definition != "" {
		db = db.Where("(definition_id = ? OR definition_name LIKE ? ESCAPE '!')", f.Definition, likeContains(f.Definition))
	}
	if f.Kind != "" {
		db = db.Where("kind = ?", f.Kind)
	}
	if f.BackfillID != "" {
		db = db.Where("backfill_id = ?", f.BackfillID)
	}
	if f.BatchID != "" {
		db = db.Where("id = ?", f.BatchID)
	}
	if f.Trigger != "" {
		db = db.Where("`trigger` = ?", f.Trigger)
	}
	if f.Initiator != "" {
		db = db.Where("initiator = ?", f.Initiator)
	}
	if f.BizdateFrom != "" {
		db = db.Where("bizdate >= ?", f.BizdateFrom)
	}
	if f.BizdateTo != "" {
		db = db.Where("bizdate <= ?", f.BizdateTo)
	}
	if f.CreatedFrom != nil {
		db = db.Where("created_at >= ?", f.CreatedFrom.UTC())
	}
	if f.CreatedTo != nil {
		db = db.Where("created_at <= ?", f.CreatedTo.UTC())
	}
	return db
}

// ListRuns pages runs, newest first, with the total count up to the
// filter's cap: ListRunPage without the cursor and the cap flag.
func (s *Store) ListRuns(ctx context.Context, f RunFilter) ([]Run, int64, error) {
	pg, err := s.ListRunPage(ctx, f)
	return pg.Runs, pg.Total, err
}

// ListRunPage pages runs, newest first, with the total count up to the
// filter's cap and the cursor of the next page.
func (s *Store) ListRunPage(ctx context.Context, f RunFilter) (RunPage, error) {
	const op = "list runs"
	db := s.db.WithContext(ctx)
	filtered := func() *gorm.DB {
		q := runScope(db, f)
		if len(f.Statuses) > 0 {
			q = q.Where("status IN ?", f.Statuses)
		}
		return q
	}
	limit := f.TotalCap
	if limit <= 0 {
		limit = DefaultRunTotalCap
	}
	// COUNT over a LIMIT-ed subquery: the database stops reading index
	// entries at cap+1 instead of counting them all.
	var counted int64
	if err := db.Raw("SELECT COUNT(*) FROM (?) AS capped", filtered().Select("1").Limit(int(limit)+1)).
		Scan(&counted).Error; err != nil {
		return RunPage{}, wrap(op, err)
	}
	page := RunPage{Runs: []Run{}, Total: min(counted, limit), TotalCapped: counted > limit}
	q := filtered()
	if c := f.After; c != nil {
		// Spelled so that both databases read it as a range on created_at
		// (a row comparison is not always an index range on MariaDB).
		at := norm(c.CreatedAt)
		q = q.Where("created_at <= ? AND (created_at < ? OR id < ?)", at, at, c.ID)
	}
	n := pageLimit(f.Limit)
	// One row more than the page says whether another page follows.
	err := q.Order("created_at DESC").Order("id DESC").Limit(n + 1).Offset(pageOffset(f.Offset)).Find(&page.Runs).Error
	if err != nil {
		return RunPage{}, wrap(op, err)
	}
	if len(page.Runs) > n {
		page.Runs = page.Runs[:n]
		last := page.Runs[n-1]
		page.Next = &RunCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// ActiveRunIDs returns the ids of a definition's runs with one of triggers
// that have not reached a final status, oldest first.
func (s *Store) ActiveRunIDs(ctx context.Context, kind, definitionID string, triggers []string) ([]string, error) {
	ids := []string{}
	err := s.db.WithContext(ctx).Model(&Run{}).
		Where("kind = ? AND definition_id = ? AND `trigger` IN ? AND status IN ?", kind, definitionID, triggers, activeRunStatuses()).
		Order("created_at").Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, wrap("active runs", err)
	}
	return ids, nil
}

func activeRunStatuses() []string { return runStatuses(false) }

func terminalRunStatuses() []string { return runStatuses(true) }

// runStatuses lists the run statuses that are terminal, or those not.
func runStatuses(terminal bool) []string {
	var out []string
	for _, st := range status.Runs {
		if st.Terminal() == terminal {
			out = append(out, string(st))
		}
	}
	return out
}

// RunStats counts the filter's runs per status, ignoring Statuses and
// paging so the badges show every status at once.
func (s *Store) RunStats(ctx context.Context, f RunFilter) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	err := runScope(s.db.WithContext(ctx), f).Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error
	if err != nil {
		return nil, wrap("run stats", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// GetInstance returns one instance.
func (s *Store) GetInstance(ctx context.Context, id string) (*Instance, error) {
	var in Instance
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&in).Error; err != nil {
		return nil, wrap("get instance", err)
	}
	return &in, nil
}

// ListTransitions returns a run's transition log in time order.
func (s *Store) ListTransitions(ctx context.Context, runID string) ([]Transition, error) {
	return s.ListEntityTransitions(ctx, runID, "")
}

// ListEntityTransitions is ListTransitions of one entity kind (run, node,
// instance); "" lists them all.
func (s *Store) ListEntityTransitions(ctx context.Context, runID, entity string) ([]Transition, error) {
	out := []Transition{}
	q := s.db.WithContext(ctx).Where("run_id = ?", runID)
	if entity != "" {
		q = q.Where("entity = ?", entity)
	}
	if err := q.Order("at").Order("id").Find(&out).Error; err != nil {
		return nil, wrap("list transitions", err)
	}
	return out, nil
}

// norm brings a time to UTC at the millisecond MySQL keeps (DATETIME(3)),
// so both databases store, compare and return the same value.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Millisecond)
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := norm(*t)
	return &u
}
