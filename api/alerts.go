package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/models"
)

// alertRoutes are the alert channels (admin), the groups' default rules
// (read by anyone, set by admins) and the alert history.
func (s *Server) alertRoutes(v1 *gin.RouterGroup) {
	ch := v1.Group("/alert-channels")
	ch.POST("", s.createAlertChannel)
	ch.GET("", s.listAlertChannels)
	ch.GET("/:id", s.getAlertChannel)
	ch.PUT("/:id", s.updateAlertChannel)
	ch.DELETE("/:id", s.deleteAlertChannel)
	ch.POST("/:id/test", s.testAlertChannel)
	v1.GET("/alert-rules/groups", s.listGroupAlertRules)
	v1.GET("/alert-rules/groups/:group", s.getGroupAlertRules)
	v1.PUT("/alert-rules/groups/:group", s.setGroupAlertRules)
	v1.GET("/alerts", s.listAlerts)
}

// alertChannelBody is a channel as POST and PUT take it. The read-only
// fields of the view are accepted and ignored, so what GET answered can
// be edited and sent back; secrets left as "[sealed]" keep their value.
type alertChannelBody struct {
	alert.Channel
	ID        json.RawMessage `json:"id,omitempty"`
	CreatedAt json.RawMessage `json:"created_at,omitempty"`
	UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
	CreatedBy json.RawMessage `json:"created_by,omitempty"`
	UpdatedBy json.RawMessage `json:"updated_by,omitempty"`
}

// alertChannelView is a channel as the API shows it: every secret is
// "[sealed]" or its env:NAME reference, never its value.
type alertChannelView struct {
	ID string `json:"id"`
	alert.Channel
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	CreatedBy string     `json:"created_by"`
	UpdatedBy string     `json:"updated_by"`
}

func storedChannel(row *models.AlertChannel) (alert.Channel, error) {
	var ch alert.Channel
	if err := json.Unmarshal([]byte(row.Config), &ch); err != nil {
		return ch, fmt.Errorf("alert channel %s: stored config: %w", row.ID, err)
	}
	ch.Name, ch.Kind = row.Name, row.Kind
	return ch, nil
}

func viewAlertChannel(row *models.AlertChannel) (alertChannelView, error) {
	ch, err := storedChannel(row)
	if err != nil {
		return alertChannelView{}, err
	}
	return alertChannelView{ID: row.ID, Channel: alert.Redacted(ch), CreatedAt: utc(row.CreatedAt), UpdatedAt: utc(row.UpdatedAt),
		CreatedBy: row.CreatedBy, UpdatedBy: row.UpdatedBy}, nil
}

// channelProblems answers a channel's validation problems as a 400.
func channelProblems(p dag.Problems) error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest,
		Message: "invalid alert channel: " + listProblems(p), Details: []dag.Problem(p)}
}

// listProblems is every problem in one message: a channel or a group's
// rules have few, and each names its field.
func listProblems(p dag.Problems) string {
	parts := make([]string, len(p))
	for i, q := range p {
		parts[i] = q.Message
		if q.Path != "" {
			parts[i] = q.Path + ": " + q.Message
		}
	}
	return strings.Join(parts, "; ")
}

// parseAlertChannel decodes, merges (on an update: "[sealed]" keeps the
// stored secret), validates and seals a channel body into its stored
// config.
func (s *Server) parseAlertChannel(c *gin.Context, stored *alert.Channel) (alert.Channel, string, error) {
	var body alertChannelBody
	if err := decodeJSON(c, &body, false); err != nil {
		return alert.Channel{}, "", err
	}
	ch := body.Channel
	if ch.Webhook != nil {
		ch.Webhook.URLHost = "" // derived from the URL, never taken from a body
	}
	if stored != nil {
		if err := alert.KeepSealed(&ch, *stored); err != nil {
			return ch, "", channelProblems(dag.Problems{{Path: "", Message: err.Error()}})
		}
	} else if err := alert.KeepSealed(&ch, alert.Channel{}); err != nil {
		return ch, "", channelProblems(dag.Problems{{Path: "", Message: err.Error()}})
	}
	if p := ch.Validate(s.httpAllow); len(p) > 0 {
		return ch, "", channelProblems(p)
	}
	if err := s.sealer.Seal(&ch); err != nil {
		if errors.Is(err, alert.ErrNoKey) {
			return ch, "", badRequest("%v", err)
		}
		return ch, "", err
	}
	cfg, err := json.Marshal(ch)
	if err != nil {
		return ch, "", fmt.Errorf("encode alert channel: %w", err)
	}
	return ch, string(cfg), nil
}

func (s *Server) createAlertChannel(c *gin.Context) {
	ch, cfg, err := s.parseAlertChannel(c, nil)
	if err != nil {
		_ = c.Error(err)
		return
	}
	row := &models.AlertChannel{ID: uuid.NewString(), Name: ch.Name, Kind: ch.Kind, Config: cfg,
		CreatedBy: Actor(c.Request.Context()), UpdatedBy: Actor(c.Request.Context())}
	auditTarget(c, row.ID)
	if err := s.store.CreateAlertChannel(c.Request.Context(), row); err != nil {
		_ = c.Error(err)
		return
	}
	s.answerAlertChannel(c, http.StatusCreated, row)
}

func (s *Server) answerAlertChannel(c *gin.Context, status int, row *models.AlertChannel) {
	v, err := viewAlertChannel(row)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(status, v)
}

func (s *Server) listAlertChannels(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		_ = c.Error(err)
		return
	}
	rows, err := s.store.ListAlertChannels(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	items := make([]alertChannelView, 0, len(rows))
	for i := range rows {
		v, err := viewAlertChannel(&rows[i])
		if err != nil {
			_ = c.Error(err)
			return
		}
		items = append(items, v)
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *Server) getAlertChannel(c *gin.Context) {
	row, err := s.store.AlertChannel(c.Request.Context(), c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	s.answerAlertChannel(c, http.StatusOK, row)
}

func (s *Server) updateAlertChannel(c *gin.Context) {
	ctx := c.Request.Context()
	row, err := s.store.AlertChannel(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	stored, err := storedChannel(row)
	if err != nil {
		_ = c.Error(err)
		return
	}
	ch, cfg, err := s.parseAlertChannel(c, &stored)
	if err != nil {
		_ = c.Error(err)
		return
	}
	row.Name, row.Kind, row.Config, row.UpdatedBy = ch.Name, ch.Kind, cfg, Actor(ctx)
	if err := s.store.UpdateAlertChannel(ctx, row); err != nil {
		_ = c.Error(err)
		return
	}
	s.answerAlertChannel(c, http.StatusOK, row)
}

func (s *Server) deleteAlertChannel(c *gin.Context) {
	if err := s.store.DeleteAlertChannel(c.Request.Context(), c.Param("id")); err != nil {
		_ = c.Error(err)
		return
	}
	c.Status(http.StatusNoContent)
}

// alertTestResult is the answer of a channel's send test: whether the
// channel took the message, and its refusal when it did not.
type alertTestResult struct {
	Channel   string `json:"channel"`
	Delivered bool   `json:"delivered"`
	Error     string `json:"error,omitempty"`
	Title     string `json:"title"`
}

// testAlertChannel sends a test message through the channel now. The
// answer is 200 either way: the request worked, the delivery result is
// its content.
func (s *Server) testAlertChannel(c *gin.Context) {
	ctx := c.Request.Context()
	row, err := s.store.AlertChannel(ctx, c.Param("id"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	ev := alert.TestEvent(row.Name, s.now().UTC())
	res := alertTestResult{Channel: row.Name, Title: alert.Render(ev, "").Title, Delivered: true}
	if err := s.alerts.Test(ctx, row, ev); err != nil {
		res.Delivered, res.Error = false, err.Error()
	}
	c.JSON(http.StatusOK, res)
}

// groupRulesView is a group's default alert rules.
type groupRulesView struct {
	Group     string          `json:"group"`
	Rules     []dag.AlertRule `json:"rules"`
	UpdatedAt *time.Time      `json:"updated_at"`
	UpdatedBy string          `json:"updated_by"`
}

func groupParam(c *gin.Context) (string, error) {
	g := c.Param("group")
	if !dag.ValidID(g) {
		return "", badRequest("group %q must be 1 to 64 of A-Z a-z 0-9 _ . -", g)
	}
	return g, nil
}

func (s *Server) listGroupAlertRules(c *gin.Context) {
	if err := checkQuery(c); err != nil {
		_ = c.Error(err)
		return
	}
	rows, err := s.store.ListGroupAlertRules(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	items := make([]groupRulesView, 0, len(rows))
	for _, r := range rows {
		rules := []dag.AlertRule{}
		if err := json.Unmarshal([]byte(r.Rules), &rules); err != nil {
			_ = c.Error(fmt.Errorf("group %s alert rules: %w", r.Group, err))
			return
		}
		items = append(items, groupRulesView{Group: r.Group, Rules: rules, UpdatedAt: utc(r.UpdatedAt), UpdatedBy: r.UpdatedBy})
	}
	c.JSON(http.StatusOK, gin.H{"items": items})
}

func (s *Server) getGroupAlertRules(c *gin.Context) {
	g, err := groupParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	rules, row, err := s.store.GroupAlertRules(c.Request.Context(), g)
	if err != nil {
		_ = c.Error(err)
		return
	}
	c.JSON(http.StatusOK, groupRulesView{Group: g, Rules: rules, UpdatedAt: utc(row.UpdatedAt), UpdatedBy: row.UpdatedBy})
}

func (s *Server) setGroupAlertRules(c *gin.Context) {
	ctx := c.Request.Context()
	g, err := groupParam(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	auditTarget(c, g)
	var body struct {
		Rules *[]dag.AlertRule `json:"rules"`
		// Read-only fields of the view, so GET's answer can be PUT back.
		Group     json.RawMessage `json:"group,omitempty"`
		UpdatedAt json.RawMessage `json:"updated_at,omitempty"`
		UpdatedBy json.RawMessage `json:"updated_by,omitempty"`
	}
	if err := decodeJSON(c, &body, false); err != nil {
		_ = c.Error(err)
		return
	}
	if body.Rules == nil {
		_ = c.Error(badRequest("rules is required (an empty list removes the group's defaults)"))
		return
	}
	rules := *body.Rules
	// The same rules a definition's alerts get (internal/dag); whether
	// each channel exists is asked below.
	problems := dag.ValidateAlerts("rules", rules)
	more, err := s.alertChannelProblems(ctx, ruleSet{"rules", rules})
	if err != nil {
		_ = c.Error(err)
		return
	}
	if problems = append(problems, more...); len(problems) > 0 {
		_ = c.Error(&Error{Status: http.StatusBadRequest, Code: CodeBadRequest,
			Message: "invalid alert rules: " + listProblems(problems), Details: []dag.Problem(problems)})
		return
	}
	row, err := s.store.SetGroupAlertRules(ctx, g, rules, Actor(ctx))
	if err != nil {
		_ = c.Error(err)
		return
	}
	if rules == nil {
		rules = []dag.AlertRule{}
	}
	c.JSON(http.StatusOK, groupRulesView{Group: g, Rules: rules, UpdatedAt: utc(row.UpdatedAt), UpdatedBy: row.UpdatedBy})
}

// ruleSet is one list of alert rules of a body and where it is.
type ruleSet struct {
	path  string
	rules []dag.AlertRule
}

// alertChannelProblems names each rule's channel that does not exist.
// It needs the database, so the API checks it rather than internal/dag.
func (s *Server) alertChannelProblems(ctx context.Context, sets ...ruleSet) (dag.Problems, error) {
	var names []string
	for _, set := range sets {
		for _, r := range set.rules {
			names = append(names, r.Channels...)
		}
	}
	missing, err := s.store.MissingAlertChannels(ctx, names)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	var p dag.Problems
	for _, set := range sets {
		for i, r := range set.rules {
			for j, name := range r.Channels {
				if slices.Contains(missing, name) {
					p = append(p, dag.Problem{Path: fmt.Sprintf("%s[%d].channels[%d]", set.path, i, j),
						Message: fmt.Sprintf("no alert channel is named %q (an admin creates channels with POST /api/v1/alert-channels)", name)})
				}
			}
		}
	}
	return p, nil
}

// flowRuleSets are a flow's rules and those of its inline tasks.
func flowRuleSets(f *dag.Flow) []ruleSet {
	sets := []ruleSet{{"alerts", f.Alerts}}
	for i, n := range f.Nodes {
		if n.Task != nil && len(n.Task.Alerts) > 0 {
			sets = append(sets, ruleSet{fmt.Sprintf("nodes[%d].task.alerts", i), n.Task.Alerts})
		}
	}
	return sets
}

// alertView is one row of the alert history.
type alertView struct {
	ID           uint64     `json:"id"`
	RunID        string     `json:"run_id"`
	Event        string     `json:"event"`
	Key          string     `json:"key"`
	Channel      string     `json:"channel"`
	ChannelKind  string     `json:"channel_kind"`
	DefinitionID string     `json:"definition_id"`
	Title        string     `json:"title"`
	Status       string     `json:"status"`
	Attempts     int        `json:"attempts"`
	LastError    string     `json:"last_error"`
	CreatedAt    *time.Time `json:"created_at"`
	UpdatedAt    *time.Time `json:"updated_at"`
	SentAt       *time.Time `json:"sent_at"`
}

// alertList is a page of the alert history, newest first, with the
// keyset cursor of the next page.
type alertList struct {
	Items      []alertView `json:"items"`
	Limit      int         `json:"limit"`
	NextCursor *string     `json:"next_cursor"`
}

func (s *Server) listAlerts(c *gin.Context) {
	if err := checkQuery(c, "run_id", "event", "channel", "status", "since", "until", "limit", "cursor"); err != nil {
		_ = c.Error(err)
		return
	}
	q := models.AlertQuery{RunID: c.Query("run_id"), Event: c.Query("event"), Channel: c.Query("channel"), Status: c.Query("status")}
	switch q.Status {
	case "", models.AlertPending, models.AlertSent, models.AlertFailed:
	default:
		_ = c.Error(badRequest("query parameter \"status\" must be pending, sent or failed, got %q", q.Status))
		return
	}
	var err error
	if q.Since, err = timeParam(c, "since"); err != nil {
		_ = c.Error(err)
		return
	}
	if q.Until, err = timeParam(c, "until"); err != nil {
		_ = c.Error(err)
		return
	}
	limit, err := intParam(c, "limit", defaultLimit)
	if err != nil {
		_ = c.Error(err)
		return
	}
	q.Limit = min(max(limit, 1), maxLimit)
	if limit == 0 {
		q.Limit = defaultLimit
	}
	if raw := c.Query("cursor"); raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		id, perr := strconv.ParseUint(string(b), 10, 64)
		if err != nil || perr != nil || id == 0 {
			_ = c.Error(badRequest("query parameter \"cursor\" is not a cursor this API returned (use next_cursor of the previous page)"))
			return
		}
		q.After = id
	}
	rows, more, err := s.store.ListAlerts(c.Request.Context(), q)
	if err != nil {
		_ = c.Error(err)
		return
	}
	out := alertList{Items: make([]alertView, len(rows)), Limit: q.Limit}
	for i, a := range rows {
		out.Items[i] = alertView{ID: a.ID, RunID: a.RunID, Event: a.Event, Key: a.Key, Channel: a.Channel, ChannelKind: a.ChannelKind,
			DefinitionID: a.DefinitionID, Title: a.Title, Status: a.Status, Attempts: a.Attempts, LastError: a.LastError,
			CreatedAt: utc(a.CreatedAt), UpdatedAt: utc(a.UpdatedAt), SentAt: utcPtr(a.SentAt)}
	}
	if more && len(rows) > 0 {
		next := base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(rows[len(rows)-1].ID, 10)))
		out.NextCursor = &next
	}
	c.JSON(http.StatusOK, out)
}
