package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/models"
)

// routeAction is what the audit log calls a mutating route and what it
// acts on. The id of the target is the route's :id parameter, or what the
// handler reports with auditTarget (a created definition, backfill or
// token); the node is :node.
type routeAction struct {
	action, target string
}

// routeActions names every mutating route, keyed by method and Gin's full
// path. The names are part of the audit log's contract: consoles and
// auditors filter on them, so they never change once released. A test
// walks the router and fails on a mutating route missing here.
var routeActions = map[string]routeAction{
	"POST /api/v1/tasks":                           {"task.create", "task"},
	"PUT /api/v1/tasks/:id":                        {"task.update", "task"},
	"DELETE /api/v1/tasks/:id":                     {"task.delete", "task"},
	"POST /api/v1/tasks/:id/enable":                {"task.enable", "task"},
	"POST /api/v1/tasks/:id/disable":               {"task.disable", "task"},
	"POST /api/v1/tasks/:id/runs":                  {"task.run", "task"},
	"POST /api/v1/flows":                           {"flow.create", "flow"},
	"POST /api/v1/flows/validate":                  {"flow.validate", "flow"},
	"PUT /api/v1/flows/:id":                        {"flow.update", "flow"},
	"DELETE /api/v1/flows/:id":                     {"flow.delete", "flow"},
	"POST /api/v1/flows/:id/enable":                {"flow.enable", "flow"},
	"POST /api/v1/flows/:id/disable":               {"flow.disable", "flow"},
	"POST /api/v1/flows/:id/runs":                  {"flow.run", "flow"},
	"POST /api/v1/runs/batch/stop":                 {"run.batch_stop", "run"},
	"POST /api/v1/runs/batch/retry":                {"run.batch_retry", "run"},
	"POST /api/v1/runs/:id/stop":                   {"run.stop", "run"},
	"POST /api/v1/runs/:id/pause":                  {"run.pause", "run"},
	"POST /api/v1/runs/:id/resume":                 {"run.resume", "run"},
	"POST /api/v1/runs/:id/retry":                  {"run.retry", "run"},
	"POST /api/v1/runs/:id/rollback":               {"run.rollback", "run"},
	"POST /api/v1/runs/:id/abandon":                {"run.abandon", "run"},
	"POST /api/v1/runs/:id/rerun":                  {"run.rerun", "run"},
	"POST /api/v1/runs/:id/rerun-downstream":       {"run.rerun_downstream", "run"},
	"POST /api/v1/runs/:id/nodes/:node/stop":       {"node.stop", "node"},
	"POST /api/v1/runs/:id/nodes/:node/pause":      {"node.pause", "node"},
	"POST /api/v1/runs/:id/nodes/:node/resume":     {"node.resume", "node"},
	"POST /api/v1/runs/:id/nodes/:node/retry":      {"node.retry", "node"},
	"POST /api/v1/runs/:id/nodes/:node/skip":       {"node.skip", "node"},
	"POST /api/v1/runs/:id/nodes/:node/rerun-from": {"node.rerun_from", "node"},
	"POST /api/v1/instances/:id/stop":              {"instance.stop", "instance"},
	"POST /api/v1/instances/:id/rerun":             {"instance.rerun", "instance"},
	"POST /api/v1/schedules/resync":                {"schedule.resync", "schedule"},
	"POST /api/v1/backfills":                       {"backfill.start", "backfill"},
	"POST /api/v1/backfills/:id/pause":             {"backfill.pause", "backfill"},
	"POST /api/v1/backfills/:id/resume":            {"backfill.resume", "backfill"},
	"POST /api/v1/backfills/:id/stop":              {"backfill.stop", "backfill"},
	"POST /api/v1/backfills/:id/retry":             {"backfill.retry", "backfill"},
	"POST /api/v1/tokens":                          {"token.create", "token"},
	"DELETE /api/v1/tokens/:id":                    {"token.revoke", "token"},
	"POST /api/v1/alert-channels":                  {"alert_channel.create", "alert_channel"},
	"PUT /api/v1/alert-channels/:id":               {"alert_channel.update", "alert_channel"},
	"DELETE /api/v1/alert-channels/:id":            {"alert_channel.delete", "alert_channel"},
	"POST /api/v1/alert-channels/:id/test":         {"alert_channel.test", "alert_channel"},
	"PUT /api/v1/alert-rules/groups/:group":        {"alert_rules.set", "group"},
}

// adminRoutes are the routes only an admin token may call, reading
// included. The auth middleware enforces exactly this list, and the role
// test walks the router against it.
var adminRoutes = map[string]bool{
	"GET /api/v1/tokens":            true,
	"POST /api/v1/tokens":           true,
	"DELETE /api/v1/tokens/:id":     true,
	"POST /api/v1/schedules/resync": true,
	// Alert channels hold webhook URLs and mail settings.
	"POST /api/v1/alert-channels":           true,
	"GET /api/v1/alert-channels":            true,
	"GET /api/v1/alert-channels/:id":        true,
	"PUT /api/v1/alert-channels/:id":        true,
	"DELETE /api/v1/alert-channels/:id":     true,
	"POST /api/v1/alert-channels/:id/test":  true,
	"PUT /api/v1/alert-rules/groups/:group": true,
}

// secretBodyKeys are further body keys whose values a route's audit
// entry hides: an alert channel's webhook URL carries a chat hook's token
// and its headers carry credentials.
var secretBodyKeys = map[string]*regexp.Regexp{
	"POST /api/v1/alert-channels":    channelSecretKey,
	"PUT /api/v1/alert-channels/:id": channelSecretKey,
}

var channelSecretKey = regexp.MustCompile(`(?i)^(url|headers)$`)

func routeKey(c *gin.Context) string { return c.Request.Method + " " + c.FullPath() }

// Gin context keys of the audit entry.
const (
	ctxAuditTarget = "baton.audit_target"
	ctxErrorMsg    = "baton.error_message"
	ctxReplayed    = "baton.replayed"
)

// auditTarget reports the id of what a handler created, for routes whose
// target has no id in the path.
func auditTarget(c *gin.Context, id string) { c.Set(ctxAuditTarget, id) }

// Bounds of the recorded parameters. A flow body can be megabytes; its
// saved version holds it in full, so the audit keeps only a bounded copy.
const (
	maxAuditBody   = 256 << 10
	maxAuditParams = 64 << 10
)

// auditMiddleware records every mutating call under /api once the response
// status is known, failures included: a refused or failed attempt is as
// much a part of the record as a successful one. It sees the body as the
// handler read it (up to maxAuditBody).
func (s *Server) auditMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if readOnly(c.Request.Method) || !strings.HasPrefix(c.Request.URL.Path, "/api/") {
			c.Next()
			return
		}
		body := &capturedBody{ReadCloser: c.Request.Body}
		hasBody := c.Request.Body != nil
		if hasBody {
			c.Request.Body = body
		}
		c.Next()
		if hasBody && !body.full() {
			// A refusal before the handler read the body (auth, a bad
			// path) still records what was asked, within the bound.
			_, _ = io.CopyN(io.Discard, body, int64(maxAuditBody-body.buf.Len()+1))
		}
		ctx := c.Request.Context()
		ra := routeActions[routeKey(c)]
		e := &models.AuditEntry{
			At:             s.now().UTC(),
			ActorID:        ActorID(ctx),
			Actor:          Actor(ctx),
			Action:         ra.action,
			Method:         c.Request.Method,
			Path:           truncate(c.Request.URL.Path, 255),
			TargetKind:     ra.target,
			TargetID:       truncate(c.Param("id"), 191),
			TargetNode:     truncate(c.Param("node"), 64),
			Params:         auditParams(c, body),
			Status:         c.Writer.Status(),
			Code:           truncate(c.GetString(ctxErrorCode), 64),
			Detail:         truncate(c.GetString(ctxErrorMsg), 4096),
			RequestID:      RequestID(ctx),
			IdempotencyKey: truncate(c.GetHeader(HeaderIdempotencyKey), 64),
			ClientAddr:     truncate(c.ClientIP(), 64),
		}
		if id := c.GetString(ctxAuditTarget); id != "" {
			e.TargetID = truncate(id, 191)
		}
		switch {
		case c.GetBool(ctxReplayed):
			e.Result = models.AuditReplayed
		case e.Status >= 500:
			e.Result = models.AuditFailed
		case e.Status >= 400:
			e.Result = models.AuditRefused
		case dryRunQuery(c):
			e.Result = models.AuditDryRun
		default:
			e.Result = models.AuditApplied
		}
		// The client may already have hung up; the record must still land.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := s.store.AddAudit(wctx, e); err != nil {
			s.log.Error("write audit entry", "err", err, "method", e.Method, "path", e.Path,
				"actor", e.Actor, "status", e.Status, "request_id", e.RequestID)
		}
	}
}

// capturedBody keeps the first maxAuditBody bytes read through it.
type capturedBody struct {
	io.ReadCloser
	buf       bytes.Buffer
	truncated bool
}

func (b *capturedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := maxAuditBody - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(n, room)])
		b.truncated = b.truncated || n > room
	} else if n > 0 {
		b.truncated = true
	}
	return n, err
}

func (b *capturedBody) full() bool { return b.truncated || b.buf.Len() >= maxAuditBody }

// auditParams is the request as the audit keeps it: path parameters, the
// query and the JSON body, secrets redacted. A body too large to keep is
// replaced by its size.
func auditParams(c *gin.Context, body *capturedBody) string {
	p := map[string]any{}
	if len(c.Params) > 0 {
		path := map[string]string{}
		for _, kv := range c.Params {
			path[kv.Key] = kv.Value
		}
		p["path"] = path
	}
	if q := c.Request.URL.Query(); len(q) > 0 {
		query := map[string]any{}
		for k, vs := range q {
			if len(vs) == 1 {
				query[k] = vs[0]
			} else {
				query[k] = vs
			}
		}
		p["query"] = query
	}
	raw := bytes.TrimSpace(body.buf.Bytes())
	switch {
	case body.truncated:
		p["body_bytes_over"] = maxAuditBody
	case len(raw) > 0:
		var v any
		if json.Unmarshal(raw, &v) == nil {
			p["body"] = v
		} else {
			p["body_bytes"] = len(raw) // not JSON: the bytes could be anything
		}
	}
	if len(p) == 0 {
		return ""
	}
	extra := secretBodyKeys[routeKey(c)]
	out, err := json.Marshal(redact(p, false, extra))
	if err != nil {
		return ""
	}
	if len(out) > maxAuditParams {
		delete(p, "body")
		p["body_bytes"] = len(raw)
		if out, err = json.Marshal(redact(p, false, extra)); err != nil {
			return ""
		}
	}
	return string(out)
}

// secretKey matches names whose values are secrets: token secrets, HTTP
// headers such as Authorization, Cookie or X-Api-Key, and params such as
// db_password. It errs on the side of hiding.
var secretKey = regexp.MustCompile(`(?i)auth|token|secret|passw|pwd|cookie|api[-_]?key|credential|private[-_]?key|session`)

// tokenValue matches a Baton token wherever it appears.
var tokenValue = regexp.MustCompile(`bt_[A-Za-z0-9_-]{20,}`)

const redacted = "[redacted]"

// redact returns v with the value of every secret-named key replaced,
// at any depth, and Baton tokens masked inside strings. hide is set under
// a secret-named key; extra, when set, names more secret keys.
func redact(v any, hide bool, extra *regexp.Regexp) any {
	secret := func(k string) bool { return secretKey.MatchString(k) || extra != nil && extra.MatchString(k) }
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = redact(val, hide || secret(k), extra)
		}
		return out
	case map[string]string:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = redact(val, hide || secret(k), extra)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = redact(val, hide, extra)
		}
		return out
	case string:
		if hide {
			return redacted
		}
		return tokenValue.ReplaceAllString(x, redacted)
	case nil, bool, float64:
		if hide && x != nil {
			return redacted
		}
		return x
	}
	if hide {
		return redacted
	}
	return v
}

// auditView is one entry of GET /api/v1/audit.
type auditView struct {
	ID             uint64          `json:"id"`
	At             *time.Time      `json:"at"`
	ActorID        uint64          `json:"actor_id"`
	Actor          string          `json:"actor"`
	Action         string          `json:"action"`
	Method         string          `json:"method"`
	Path           string          `json:"path"`
	Target         auditTargetView `json:"target"`
	Params         json.RawMessage `json:"params"`
	Result         string          `json:"result"`
	Code           string          `json:"code"`
	Message        string          `json:"message"`
	Status         int             `json:"status"`
	RequestID      string          `json:"request_id"`
	IdempotencyKey string          `json:"idempotency_key"`
	ClientAddr     string          `json:"client_addr"`
}

type auditTargetView struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Node string `json:"node"`
}

func viewAudit(e *models.AuditEntry) auditView {
	params := json.RawMessage(e.Params)
	if !json.Valid(params) {
		params = json.RawMessage("{}")
	}
	return auditView{ID: e.ID, At: utc(e.At), ActorID: e.ActorID, Actor: e.Actor, Action: e.Action, Method: e.Method,
		Path: e.Path, Target: auditTargetView{Kind: e.TargetKind, ID: e.TargetID, Node: e.TargetNode}, Params: params,
		Result: e.Result, Code: e.Code, Message: e.Detail, Status: e.Status, RequestID: e.RequestID,
		IdempotencyKey: e.IdempotencyKey, ClientAddr: e.ClientAddr}
}

// maxFilterLen bounds a filter value; every column filtered on is shorter.
const maxFilterLen = 255

// auditQuery lists the query parameters of GET /api/v1/audit; anything
// else is refused, so a misspelt filter cannot silently return everything.
var auditQuery = []string{"actor", "actor_id", "action", "target_kind", "target_id", "target_node", "result",
	"code", "status", "request_id", "idempotency_key", "client_addr", "method", "path_prefix", "since", "until",
	"limit", "offset"}

func (s *Server) listAudit(c *gin.Context) {
	f, p, err := auditFilter(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	es, total, err := s.store.ListAudit(c.Request.Context(), f)
	if err != nil {
		_ = c.Error(err)
		return
	}
	items := make([]auditView, len(es))
	for i := range es {
		items[i] = viewAudit(&es[i])
	}
	c.JSON(http.StatusOK, list[auditView]{Items: items, Total: total, page: p})
}

func auditFilter(c *gin.Context) (models.AuditFilter, page, error) {
	var f models.AuditFilter
	q := c.Request.URL.Query()
	var unknown []string
	for k := range q {
		if !slices.Contains(auditQuery, k) {
			unknown = append(unknown, strconv.Quote(k))
		}
	}
	if len(unknown) > 0 {
		return f, page{}, badRequest("unknown query parameter(s) %s; the audit filters are %s",
			strings.Join(slices.Sorted(slices.Values(unknown)), ", "), strings.Join(auditQuery, ", "))
	}
	for k, vs := range q {
		if len(vs) > 1 {
			return f, page{}, badRequest("query parameter %q is given %d times; give it once", k, len(vs))
		}
		if v := vs[0]; len(v) > maxFilterLen || strings.ContainsRune(v, 0) {
			return f, page{}, badRequest("query parameter %q must be at most %d bytes without NUL", k, maxFilterLen)
		}
	}
	p, err := pageParams(c)
	if err != nil {
		return f, p, err
	}
	f.Limit, f.Offset = p.Limit, p.Offset
	f.Actor, f.Action, f.TargetKind, f.TargetID = q.Get("actor"), q.Get("action"), q.Get("target_kind"), q.Get("target_id")
	f.TargetNode, f.Code, f.RequestID = q.Get("target_node"), q.Get("code"), q.Get("request_id")
	f.IdempotencyKey, f.ClientAddr, f.PathPrefix = q.Get("idempotency_key"), q.Get("client_addr"), q.Get("path_prefix")
	f.Method = strings.ToUpper(q.Get("method"))
	if r := q.Get("result"); r != "" {
		if !slices.Contains(auditResults, r) {
			return f, p, badRequest("query parameter \"result\" must be one of %s, got %q", strings.Join(auditResults, ", "), r)
		}
		f.Result = r
	}
	if raw := q.Get("actor_id"); raw != "" {
		if f.ActorID, err = strconv.ParseUint(raw, 10, 64); err != nil || f.ActorID == 0 {
			return f, p, badRequest("query parameter \"actor_id\" must be a positive integer, got %q", raw)
		}
	}
	if raw := q.Get("status"); raw != "" {
		if f.Status, err = strconv.Atoi(raw); err != nil || f.Status < 100 || f.Status > 599 {
			return f, p, badRequest("query parameter \"status\" must be an HTTP status 100-599, got %q", raw)
		}
	}
	if f.Since, err = timeParam(c, "since"); err != nil {
		return f, p, err
	}
	if f.Until, err = timeParam(c, "until"); err != nil {
		return f, p, err
	}
	return f, p, nil
}

var auditResults = []string{models.AuditApplied, models.AuditDryRun, models.AuditRefused, models.AuditFailed, models.AuditReplayed}

// dryRunQuery reads dry_run as the handlers do (boolParam); a malformed
// value was refused, so it never reaches a 2xx.
func dryRunQuery(c *gin.Context) bool {
	v, err := boolParam(c, "dry_run")
	return err == nil && v
}
