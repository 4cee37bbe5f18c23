package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/baton-sched/baton/internal/dag"
)

// Alert delivery statuses.
const (
	AlertPending = "pending" // claimed, not sent yet
	AlertSent    = "sent"
	AlertFailed  = "failed" // the last attempt failed; a retry may still send it
)

// AlertChannel is an admin-managed alert channel. Config is the channel's
// JSON (internal/alert.Channel) with its secrets sealed or as env:NAME
// references: the store never sees a plaintext secret.
type AlertChannel struct {
	ID        string `gorm:"primaryKey;size:64"`
	Name      string `gorm:"size:64;uniqueIndex:ux_alert_channel_name"`
	Kind      string `gorm:"size:16"`
	Config    string `gorm:"type:text"`
	CreatedBy string `gorm:"size:64"`
	UpdatedBy string `gorm:"size:64"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// GroupAlertRules are a worker group's default alert rules: every run of
// a definition in the group gets them after the definition's own.
type GroupAlertRules struct {
	Group     string `gorm:"column:group_name;primaryKey;size:64"`
	Rules     string `gorm:"type:text"` // JSON []dag.AlertRule
	UpdatedBy string `gorm:"size:64"`
	UpdatedAt time.Time
}

// Alert is one event of one run sent to one channel: the delivery record
// and the history row. The unique key is what makes a re-delivered event
// (an activity retry, a replayed or reset workflow) page once.
type Alert struct {
	ID           uint64 `gorm:"primaryKey;autoIncrement"`
	RunID        string `gorm:"size:64;uniqueIndex:ux_alert,priority:1;index"`
	Event        string `gorm:"size:32;uniqueIndex:ux_alert,priority:2;index"`
	Key          string `gorm:"column:alert_key;size:128;uniqueIndex:ux_alert,priority:3"`
	Channel      string `gorm:"size:64;uniqueIndex:ux_alert,priority:4;index"`
	ChannelKind  string `gorm:"size:16"`
	DefinitionID string `gorm:"size:64"`
	Title        string `gorm:"size:512"`
	Status       string `gorm:"size:16;index"`
	Attempts     int
	LastError    string `gorm:"type:text"`
	CreatedAt    time.Time
	UpdatedAt    time.Time
	SentAt       *time.Time
}

// CreateAlertChannel saves a new channel; ErrConflict when the name is taken.
func (s *Store) CreateAlertChannel(ctx context.Context, c *AlertChannel) error {
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := s.db.WithContext(ctx).Create(c).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("create alert channel: a channel named %q already exists: %w", c.Name, ErrConflict)
		}
		return wrap("create alert channel", err)
	}
	return nil
}

// UpdateAlertChannel replaces a channel's name, kind and config.
func (s *Store) UpdateAlertChannel(ctx context.Context, c *AlertChannel) error {
	const op = "update alert channel"
	db := s.db.WithContext(ctx)
	c.UpdatedAt = s.now()
	res := db.Model(&AlertChannel{}).Where("id = ?", c.ID).
		Updates(map[string]any{"name": c.Name, "kind": c.Kind, "config": c.Config, "updated_by": c.UpdatedBy, "updated_at": c.UpdatedAt})
	if res.Error != nil {
		if errors.Is(res.Error, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("%s: a channel named %q already exists: %w", op, c.Name, ErrConflict)
		}
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap(op, s.mustExist(db, &AlertChannel{}, "id = ?", c.ID))
	}
	return wrap(op, db.Where("id = ?", c.ID).Take(c).Error)
}

// AlertChannel reads a channel by id.
func (s *Store) AlertChannel(ctx context.Context, id string) (*AlertChannel, error) {
	var c AlertChannel
	if err := s.db.WithContext(ctx).Where("id = ?", id).Take(&c).Error; err != nil {
		return nil, wrap(fmt.Sprintf("alert channel %s", id), err)
	}
	return &c, nil
}

// AlertChannelByName reads a channel by name.
func (s *Store) AlertChannelByName(ctx context.Context, name string) (*AlertChannel, error) {
	var c AlertChannel
	if err := s.db.WithContext(ctx).Where("name = ?", name).Take(&c).Error; err != nil {
		return nil, wrap(fmt.Sprintf("alert channel %q", name), err)
	}
	return &c, nil
}

// ListAlertChannels returns every channel by name.
func (s *Store) ListAlertChannels(ctx context.Context) ([]AlertChannel, error) {
	out := []AlertChannel{}
	if err := s.db.WithContext(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, wrap("list alert channels", err)
	}
	return out, nil
}

// MissingAlertChannels returns the names, in order, that no channel has.
func (s *Store) MissingAlertChannels(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	var found []string
	if err := s.db.WithContext(ctx).Model(&AlertChannel{}).Where("name IN ?", names).Pluck("name", &found).Error; err != nil {
		return nil, wrap("look up alert channels", err)
	}
	have := make(map[string]bool, len(found))
	for _, n := range found {
		have[n] = true
	}
	var missing []string
	for _, n := range names {
		if !have[n] {
			missing = append(missing, n)
			have[n] = true // once each
		}
	}
	return missing, nil
}

// DeleteAlertChannel removes a channel. Rules naming it stay: their
// deliveries record "channel no longer exists".
func (s *Store) DeleteAlertChannel(ctx context.Context, id string) error {
	const op = "delete alert channel"
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&AlertChannel{})
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("%s %s: %w", op, id, ErrNotFound)
	}
	return nil
}

// GroupAlertRules returns a group's default rules; a group never set has
// none (and a zero UpdatedAt).
func (s *Store) GroupAlertRules(ctx context.Context, group string) ([]dag.AlertRule, *GroupAlertRules, error) {
	const op = "group alert rules"
	var row GroupAlertRules
	err := s.db.WithContext(ctx).Where("group_name = ?", group).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return []dag.AlertRule{}, &GroupAlertRules{Group: group}, nil
	case err != nil:
		return nil, nil, wrap(op, err)
	}
	rules := []dag.AlertRule{}
	if err := json.Unmarshal([]byte(row.Rules), &rules); err != nil {
		return nil, nil, fmt.Errorf("%s %s: stored rules: %w", op, group, err)
	}
	return rules, &row, nil
}

// ListGroupAlertRules returns the groups that have default rules.
func (s *Store) ListGroupAlertRules(ctx context.Context) ([]GroupAlertRules, error) {
	out := []GroupAlertRules{}
	if err := s.db.WithContext(ctx).Order("group_name").Find(&out).Error; err != nil {
		return nil, wrap("list group alert rules", err)
	}
	return out, nil
}

// SetGroupAlertRules replaces a group's default rules; none removes them.
func (s *Store) SetGroupAlertRules(ctx context.Context, group string, rules []dag.AlertRule, actor string) (*GroupAlertRules, error) {
	const op = "set group alert rules"
	db := s.db.WithContext(ctx)
	if len(rules) == 0 {
		if err := db.Where("group_name = ?", group).Delete(&GroupAlertRules{}).Error; err != nil {
			return nil, wrap(op, err)
		}
		return &GroupAlertRules{Group: group, Rules: "[]", UpdatedBy: actor, UpdatedAt: s.now()}, nil
	}
	b, err := json.Marshal(rules)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	row := &GroupAlertRules{Group: group, Rules: string(b), UpdatedBy: actor, UpdatedAt: s.now()}
	err = db.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "group_name"}},
		DoUpdates: clause.AssignmentColumns([]string{"rules", "updated_by", "updated_at"})}).Create(row).Error
	if err != nil {
		return nil, wrap(op, err)
	}
	return row, nil
}

// RunAlertRules are the alert rules a new run carries (RunInput.Alerts):
// its definition's own, pinned with the version in flow (a task run's
// one-node flow carries the task's on its node), then its group's
// defaults. Every place that starts a run resolves them here.
func (s *Store) RunAlertRules(ctx context.Context, kind, group string, flow dag.Flow) ([]dag.AlertRule, error) {
	own := flow.Alerts
	if kind == "task" && len(own) == 0 && len(flow.Nodes) == 1 && flow.Nodes[0].Task != nil {
		own = flow.Nodes[0].Task.Alerts
	}
	defaults, _, err := s.GroupAlertRules(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("run alert rules: %w", err)
	}
	if len(own)+len(defaults) == 0 {
		return nil, nil
	}
	out := make([]dag.AlertRule, 0, len(own)+len(defaults))
	return append(append(out, own...), defaults...), nil
}

// ClaimAlert returns the delivery row of (run, event, key, channel),
// creating it pending when it is new. A row already sent means the event
// was delivered to that channel before: the caller sends nothing.
func (s *Store) ClaimAlert(ctx context.Context, a *Alert) (*Alert, error) {
	const op = "claim alert"
	now := s.now()
	a.ID, a.Status, a.Attempts, a.CreatedAt, a.UpdatedAt = 0, AlertPending, 0, now, now
	db := s.db.WithContext(ctx)
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(a).Error; err != nil {
		return nil, wrap(op, err)
	}
	var got Alert
	err := db.Where("run_id = ? AND event = ? AND alert_key = ? AND channel = ?", a.RunID, a.Event, a.Key, a.Channel).Take(&got).Error
	if err != nil {
		return nil, wrap(op, err)
	}
	return &got, nil
}

// RecordAlertAttempt counts one delivery attempt of a claimed row and its
// outcome: sent, or failed with the error. A row once sent stays sent.
func (s *Store) RecordAlertAttempt(ctx context.Context, id uint64, sendErr error) error {
	const op = "record alert attempt"
	now := s.now()
	upd := map[string]any{"attempts": gorm.Expr("attempts + 1"), "updated_at": now}
	if sendErr == nil {
		upd["status"], upd["last_error"], upd["sent_at"] = AlertSent, "", now
	} else {
		upd["status"], upd["last_error"] = AlertFailed, truncateText(sendErr.Error(), 4096)
	}
	res := s.db.WithContext(ctx).Model(&Alert{}).Where("id = ? AND status <> ?", id, AlertSent).Updates(upd)
	if res.Error != nil {
		return wrap(op, res.Error)
	}
	return nil
}

// truncateText cuts s to at most n bytes on a rune boundary: MySQL
// refuses a broken UTF-8 sequence.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// AlertQuery filters the alert history. After is the keyset cursor: rows
// older than that id. Since and Until bound created_at (since inclusive).
type AlertQuery struct {
	RunID, Event, Channel, Status string
	Since, Until                  *time.Time
	After                         uint64
	Limit                         int
}

// ListAlerts returns history rows newest first, and whether more follow.
func (s *Store) ListAlerts(ctx context.Context, q AlertQuery) ([]Alert, bool, error) {
	db := s.db.WithContext(ctx).Model(&Alert{})
	for col, v := range map[string]string{"run_id": q.RunID, "event": q.Event, "channel": q.Channel, "status": q.Status} {
		if v != "" {
			db = db.Where(col+" = ?", v)
		}
	}
	if q.Since != nil {
		db = db.Where("created_at >= ?", *q.Since)
	}
	if q.Until != nil {
		db = db.Where("created_at < ?", *q.Until)
	}
	if q.After > 0 {
		db = db.Where("id < ?", q.After)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	out := []Alert{}
	if err := db.Order("id DESC").Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, false, wrap("list alerts", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}
