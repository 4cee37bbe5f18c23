package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/quartz"
)

// firing reports whether a trigger makes its definition fire on its own,
// that is whether it has a Temporal schedule.
func firing(t *dag.Trigger) bool {
	return t != nil && (t.Type == dag.TriggerCron || t.Type == dag.TriggerFixedRate)
}

// triggerProblems completes dag's shape checks of a definition's trigger
// with what only the schedule compiler knows: the Quartz fields, the
// calendar compilation, fixed-rate limits and the overlap policy. A path
// dag already reported is left alone, so one mistake is one problem.
// Running the compiler here means a trigger that would fail to become a
// schedule is refused before anything is saved.
func triggerProblems(at string, t *dag.Trigger, known dag.Problems) dag.Problems {
	if t == nil {
		return nil
	}
	reported := map[string]bool{}
	for _, p := range known {
		reported[p.Path] = true
	}
	var out dag.Problems
	add := func(path, msg string) {
		if !reported[path] {
			out = append(out, dag.Problem{Path: path, Message: msg})
			reported[path] = true
		}
	}
	tzOK := !reported[at+".timezone"]
	if tzOK {
		if _, err := quartz.LoadLocation(t.Timezone); err != nil {
			add(at+".timezone", err.Error())
			tzOK = false
		}
	}
	switch t.Type {
	case dag.TriggerCron:
		if reported[at+".cron"] {
			break
		}
		expr, err := quartz.Parse(t.Cron)
		if err != nil {
			add(at+".cron", err.Error())
			break
		}
		if tzOK {
			if _, err := quartz.Compile(expr, t.Timezone); err != nil {
				add(at+".cron", err.Error())
			}
		}
	case dag.TriggerFixedRate:
		if reported[at+".interval"] || reported[at+".phase"] {
			break
		}
		if err := quartz.ValidateFixedRate(t.Interval.MustStd(), t.Phase.MustStd()); err != nil {
			field := "interval"
			var pe *quartz.ParseError
			if errors.As(err, &pe) && pe.Field == "phase" {
				field = "phase"
			}
			add(at+"."+field, err.Error())
		}
	}
	if t.Overlap != "" && !slices.Contains(engine.OverlapPolicies, t.Overlap) {
		add(at+".overlap", fmt.Sprintf("must be one of %s, not %q", strings.Join(engine.OverlapPolicies, ", "), t.Overlap))
	}
	return out
}

// Preview bounds.
const defaultPreview = 10

// previewView is the answer of GET /api/v1/cron/preview.
type previewView struct {
	Type     string   `json:"type"`
	Expr     string   `json:"expr,omitempty"`
	Interval string   `json:"interval,omitempty"`
	Phase    string   `json:"phase,omitempty"`
	Timezone string   `json:"timezone"`
	Next     []string `json:"next"`
}

// cronPreview answers the next fire times of a Quartz expression
// (expr, tz) or of a fixed rate (type=fixed_rate, interval, phase), n of
// them (default 10), after from (default now). Times are RFC 3339 with the
// zone's offset, so an operator reads them as the schedule will fire.
func (s *Server) cronPreview(c *gin.Context) {
	typ := c.DefaultQuery("type", dag.TriggerCron)
	if typ != dag.TriggerCron && typ != dag.TriggerFixedRate {
		_ = c.Error(badRequest("query parameter \"type\" must be cron or fixed_rate, got %q", typ))
		return
	}
	n, err := intParam(c, "n", defaultPreview)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if n < 1 || n > quartz.MaxPreview {
		_ = c.Error(badRequest("query parameter \"n\" must be 1 to %d, got %d", quartz.MaxPreview, n))
		return
	}
	from := s.now()
	if raw := c.Query("from"); raw != "" {
		if from, err = time.Parse(time.RFC3339, raw); err != nil {
			_ = c.Error(badRequest("query parameter \"from\" must be an RFC 3339 time (2006-01-02T15:04:05Z), got %q", raw))
			return
		}
	}
	tz := c.Query("tz")
	loc, err := quartz.LoadLocation(tz)
	if err != nil {
		_ = c.Error(previewError("tz", err))
		return
	}
	out := previewView{Type: typ, Timezone: loc.String(), Next: []string{}}
	var times []time.Time
	if typ == dag.TriggerCron {
		out.Expr = c.Query("expr")
		if strings.TrimSpace(out.Expr) == "" {
			_ = c.Error(badRequest("query parameter \"expr\" is required: a Quartz cron expression such as \"0 30 22 * * ?\""))
			return
		}
		expr, err := quartz.Parse(out.Expr)
		if err != nil {
			_ = c.Error(previewError("expr", err))
			return
		}
		// Previewing what the schedule would refuse would mislead.
		if _, err := quartz.Compile(expr, tz); err != nil {
			_ = c.Error(previewError("expr", err))
			return
		}
		if times, err = quartz.Preview(out.Expr, tz, from, n); err != nil {
			_ = c.Error(previewError("expr", err))
			return
		}
	} else {
		out.Interval, out.Phase = c.Query("interval"), c.Query("phase")
		interval, err := dag.Duration(out.Interval).Std()
		if err != nil || out.Interval == "" {
			_ = c.Error(badRequest("query parameter \"interval\" must be a duration such as 90m or 2d, got %q", out.Interval))
			return
		}
		phase, err := dag.Duration(out.Phase).Std()
		if err != nil {
			_ = c.Error(badRequest("query parameter \"phase\" must be a duration such as 15m, got %q", out.Phase))
			return
		}
		if err := quartz.ValidateFixedRate(interval, phase); err != nil {
			param := "interval"
			var pe *quartz.ParseError
			if errors.As(err, &pe) && pe.Field == "phase" {
				param = "phase"
			}
			_ = c.Error(previewError(param, err))
			return
		}
		for t := from; len(times) < n; {
			t = quartz.NextFixedRate(interval, phase, t)
			times = append(times, t)
		}
	}
	for _, t := range times {
		out.Next = append(out.Next, t.In(loc).Format(time.RFC3339))
	}
	c.JSON(http.StatusOK, out)
}

// previewError is a 400 that names the query parameter and, for a parse
// error, the field of the expression and why.
func previewError(param string, err error) *Error {
	e := badRequest("query parameter %q: %v", param, err)
	var pe *quartz.ParseError
	if errors.As(err, &pe) {
		e.Details = gin.H{"param": param, "field": pe.Field, "value": pe.Value, "reason": pe.Reason}
	}
	return e
}

// scheduleDefOf is the engine's view of a definition's schedule.
func (s *Server) scheduleDefOf(k kind, rec record, ver versionRecord, src runSource) engine.ScheduleDef {
	return engine.ScheduleDef{Kind: k.name(), DefinitionID: rec.ID, DefinitionName: rec.Name, Version: ver.Version,
		Group: groupOr(rec.Group), Flow: src.flow, Params: src.params, Trigger: src.trigger, Enabled: rec.Enabled,
		Deleted: rec.DeletedAt != nil, OperableWindow: s.window}
}
