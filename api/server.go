package api

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// Engine starts and controls runs on Temporal; *engine.Engine implements it.
type Engine interface {
	StartRun(ctx context.Context, in workflows.RunInput) (temporalRunID string, err error)
	// State is a run's live state, as its workflow reports it.
	State(ctx context.Context, runID string) (control.View, error)
	// Control signals a request into the run and waits until it applied or
	// refused it; a repeated request id returns the first result.
	Control(ctx context.Context, runID string, req control.Request) (workflows.ControlResult, error)
	FindResetPoint(ctx context.Context, runID, node string) (engine.ResetPoint, error)
	Reset(ctx context.Context, runID string, p engine.ResetPoint, reason, requestID string) (newTemporalRunID string, err error)
	// SyncSchedule makes a definition's Temporal schedule match it: created
	// or updated, paused when disabled, deleted when it no longer fires.
	SyncSchedule(ctx context.Context, def engine.ScheduleDef) error
}

// Options configures a Server.
type Options struct {
	Store  *models.Store
	Engine Engine
	Logger *slog.Logger
	Now    func() time.Time // nil => time.Now
	// OperableWindow keeps an unsuccessful run open for operations
	// (BATON_OPERABLE_WINDOW; 0: the engine's default, 7 days).
	OperableWindow time.Duration
	// Backfiller drives backfills; nil uses Engine when it implements
	// Backfiller (*engine.Engine does).
	Backfiller Backfiller
	// Feed tunes the shared transition feed behind the event streams.
	Feed models.FeedOptions
	// Heartbeat is how often an idle event stream sends a comment (15s).
	Heartbeat time.Duration
	// Metrics receives the API's series; nil records nothing.
	Metrics *metrics.Metrics
	// Console serves the web console for every GET outside /api and
	// /healthz (web.Handler); nil answers those paths with a JSON 404.
	Console http.Handler
	// TemporalUIURL is the Temporal Web UI's address, shown by the console
	// (GET /api/v1/me); empty when the server does not know it.
	TemporalUIURL string
	// Sealer seals alert channel secrets (BATON_SECRET_KEY); nil refuses
	// literal secrets (env:NAME references still work).
	Sealer *alert.Sealer
	// ConsoleURL is where channel test messages link to (BATON_CONSOLE_URL).
	ConsoleURL string
	// HTTPAllow is the SSRF allowlist webhook URLs are checked against at
	// save and a channel test is sent under (BATON_HTTP_ALLOW).
	HTTPAllow []string
	// NoAnswerCache turns the cache of ended runs' heavy answers off
	// (answers.go), so a benchmark can time the path a first request takes.
	NoAnswerCache bool
}

// Server is the REST API v1.
type Server struct {
	store      *models.Store
	engine     Engine
	backfiller Backfiller
	console    http.Handler
	uiURL      string
	log        *slog.Logger
	now        func() time.Time
	window     time.Duration
	feed       *models.Feed
	heartbeat  time.Duration
	metrics    *metrics.Metrics
	// alerts opens and sends channels for their tests; sealer and
	// httpAllow check and seal them at save.
	alerts    *activities.Alerts
	sealer    *alert.Sealer
	httpAllow []string
	// graphs caches runs' pinned graphs by run id: a run's snapshot never
	// changes, and decoding a 10,000-node flow is most of its detail's cost.
	graphs *lru.Cache[string, *dag.Graph]
	// answers caches ended runs' encoded heavy views (answers.go).
	answers *lru.Cache[string, cachedAnswer]
	noCache bool
}

// New builds a Server; Store is required.
func New(o Options) *Server {
	s := &Server{store: o.Store, engine: o.Engine, backfiller: o.Backfiller, log: o.Logger, now: o.Now, window: o.OperableWindow,
		console: o.Console, uiURL: o.TemporalUIURL,
		feed: o.Store.NewFeed(o.Feed), heartbeat: o.Heartbeat, metrics: o.Metrics, noCache: o.NoAnswerCache,
		sealer: o.Sealer, httpAllow: o.HTTPAllow,
		alerts: &activities.Alerts{Store: o.Store, Sealer: o.Sealer, ConsoleURL: o.ConsoleURL,
			Sender: &alert.Sender{HTTPAllow: o.HTTPAllow}}}
	if s.heartbeat <= 0 {
		s.heartbeat = defaultHeartbeat
	}
	s.graphs, _ = lru.New[string, *dag.Graph](graphCacheSize) // fails only for a size below 1
	s.answers, _ = lru.New[string, cachedAnswer](answerCacheSize)
	if s.backfiller == nil {
		s.backfiller, _ = o.Engine.(Backfiller)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		// /metrics is part of the contract: a server built without a
		// registry (tests, tools) still answers it, with its own.
		m, err := metrics.New()
		if err != nil {
			s.log.Error("metrics registry", "err", err)
		}
		s.metrics = m
	}
	return s
}

func init() {
	// Gin's debug mode prints every route at start and warns on stdout;
	// the API logs through slog instead.
	gin.SetMode(gin.ReleaseMode)
}

// Handler returns the HTTP handler serving /healthz, /api/openapi.json and
// /api/v1.
func (s *Server) Handler() http.Handler {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// Client IPs are not used for anything; trusting no proxy keeps gin
	// from warning about it.
	_ = r.SetTrustedProxies(nil)
	// Order matters: audit reads the status the error middleware writes,
	// and the error middleware renders what recovery and auth report.
	r.Use(s.metrics.GinMiddleware(), requestIDMiddleware(), s.auditMiddleware(), errorMiddleware(s.log), recoveryMiddleware(s.log), bodyLimitMiddleware())
	r.NoRoute(func(c *gin.Context) {
		if s.console != nil && consolePath(c.Request) {
			s.console.ServeHTTP(c.Writer, c.Request)
			return
		}
		_ = c.Error(&Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: "no route " + c.Request.Method + " " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		_ = c.Error(&Error{Status: http.StatusMethodNotAllowed, Code: CodeMethodNotAllowed,
			Message: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})

	r.GET("/healthz", s.healthz)
	r.GET("/api/openapi.json", s.openAPI)

	// Open like /healthz: scrapers carry no token.
	r.GET("/metrics", s.serveMetrics)

	v1 := r.Group("/api/v1", s.authMiddleware(), s.idempotencyMiddleware())

	tasks := v1.Group("/tasks")
	s.definitionRoutes(tasks, taskKind{})

	flows := v1.Group("/flows")
	flows.POST("/validate", s.validateFlow)
	s.definitionRoutes(flows, flowKind{})

	v1.GET("/me", s.me)
	v1.GET("/runs", s.listRuns)
	v1.GET("/runs/stats", s.runStats)
	v1.GET("/runs/events", s.runsEvents)
	v1.GET("/runs/:id/events", s.runEvents)
	v1.GET("/runs/:id", s.getRun)
	v1.GET("/runs/:id/instances", s.listRunInstances)
	v1.GET("/runs/:id/logs", s.runLogs)
	v1.GET("/runs/:id/locate", s.locateRun)
	v1.GET("/runs/:id/gantt", s.runGantt)
	v1.GET("/runs/:id/nodes/:node/lineage", s.nodeLineage)
	v1.GET("/runs/:id/nodes/:node/history", s.nodeHistory)
	v1.GET("/instances/:id/log", s.instanceLog)
	s.controlRoutes(v1)
	v1.GET("/cron/preview", s.cronPreview)
	v1.POST("/schedules/resync", s.resyncSchedules)
	s.backfillRoutes(v1)
	v1.GET("/workers", s.listWorkers)
	v1.GET("/audit", s.listAudit)

	s.alertRoutes(v1)

	tokens := v1.Group("/tokens")
	tokens.GET("", s.listTokens)
	tokens.POST("", s.createToken)
	tokens.DELETE("/:id", s.revokeToken)
	return r
}

func (s *Server) definitionRoutes(g *gin.RouterGroup, k kind) {
	g.POST("", s.createDefinition(k))
	g.GET("", s.listDefinitions(k))
	g.GET("/:id", s.getDefinition(k))
	g.PUT("/:id", s.updateDefinition(k))
	g.DELETE("/:id", s.deleteDefinition(k))
	g.GET("/:id/versions", s.listVersions(k))
	g.GET("/:id/versions/:version", s.getVersion(k))
	g.POST("/:id/enable", s.setEnabled(k, true))
	g.POST("/:id/disable", s.setEnabled(k, false))
	g.POST("/:id/runs", s.runOnce(k))
}

func (s *Server) serveMetrics(c *gin.Context) {
	if s.metrics == nil {
		_ = c.Error(&Error{Status: http.StatusServiceUnavailable, Code: CodeServiceUnavailable, Message: "metrics registry unavailable"})
		return
	}
	s.metrics.Handler().ServeHTTP(c.Writer, c.Request)
}

// consolePath reports whether a request that matched no route belongs to
// the console: a read outside the API's own paths, which keep their JSON
// 404 so that a client typo never gets an HTML page.
func consolePath(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	return p != "/api" && !strings.HasPrefix(p, "/api/") && p != "/healthz" && p != "/metrics"
}

// me tells the console who the token is and what the server knows that
// the console links to.
func (s *Server) me(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"name": Actor(c.Request.Context()), "role": role(c.Request.Context()), "temporal_ui_url": s.uiURL})
}

func (s *Server) healthz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		s.log.Warn("health check: mirror database unreachable", "err", err)
		_ = c.Error(&Error{Status: http.StatusServiceUnavailable, Code: CodeServiceUnavailable,
			Message: "mirror database unreachable", Err: err})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// Pagination bounds shared by every list.
const (
	defaultLimit = 50
	maxLimit     = 500
)

type page struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// list is the envelope of every paged list.
type list[T any] struct {
	Items []T   `json:"items"`
	Total int64 `json:"total"`
	page
}

// pageParams reads limit and offset. A limit above the maximum is lowered
// rather than refused, so a client asking for "everything" gets the most a
// page holds and sees the effective limit in the answer.
func pageParams(c *gin.Context) (page, error) {
	p := page{Limit: defaultLimit}
	var err error
	if p.Limit, err = intParam(c, "limit", defaultLimit); err != nil {
		return p, err
	}
	if p.Limit == 0 {
		p.Limit = defaultLimit
	}
	if p.Limit > maxLimit {
		p.Limit = maxLimit
	}
	if p.Offset, err = intParam(c, "offset", 0); err != nil {
		return p, err
	}
	return p, nil
}

func intParam(c *gin.Context, name string, def int) (int, error) {
	raw, ok := c.GetQuery(name)
	if !ok || raw == "" {
		return def, nil
	}
	v, err := strconv.Atoi(raw)
	if err != nil || v < 0 {
		return 0, badRequest("query parameter %q must be a non-negative integer, got %q", name, raw)
	}
	return v, nil
}

func boolParam(c *gin.Context, name string) (bool, error) {
	raw, ok := c.GetQuery(name)
	if !ok || raw == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, badRequest("query parameter %q must be true or false, got %q", name, raw)
	}
	return v, nil
}

// window slices an in-memory list for the lists whose store call returns
// everything (versions, instances).
func window[T any](items []T, p page) []T {
	if p.Offset >= len(items) {
		return []T{}
	}
	end := min(p.Offset+p.Limit, len(items))
	return items[p.Offset:end]
}

// utc renders a stored time for JSON: UTC, and null when unset.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// stamp is t as encoding/json writes a time (RFC 3339 with nanoseconds,
// here in UTC); nil stays nil. The views of every node of a run carry
// their times as text: encoding/json sends each time.Time through its
// Marshaler and then re-validates the bytes, which was most of the cost
// of encoding a 10,000-node run (docs/benchmarks.md).
func stamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	v := t.UTC().Format(time.RFC3339Nano)
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return utc(*t)
}
