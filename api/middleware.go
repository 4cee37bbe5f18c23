package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/models"
)

// Roles a token may carry.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// maxBody bounds request bodies. A 10,000-node flow is a few MB of JSON;
// the limit only has to stop a client from exhausting memory.
const maxBody = 32 << 20

// Gin context keys.
const (
	ctxErrorCode = "baton.error_code"
	ctxRole      = "baton.role"
)

type ctxKey int

const (
	actorKey ctxKey = iota
	requestIDKey
)

// Actor is the name of the token that made the request, as recorded in the
// audit log, transitions and run initiators; empty outside a request.
func Actor(ctx context.Context) string {
	s, _ := ctx.Value(actorKey).(string)
	return s
}

// RequestID is the request's id, taken from X-Request-ID or generated.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// WithActor returns ctx carrying actor, for callers outside HTTP (the CLI,
// tests) that invoke code reading Actor.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey, actor)
}

func withValue(c *gin.Context, key ctxKey, v string) {
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), key, v))
}

// requestIDMiddleware keeps a caller's X-Request-ID so logs can be joined
// across services, but only when it fits the columns it is stored in and
// cannot forge log lines.
func requestIDMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		withValue(c, requestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r > '~' {
			return false
		}
	}
	return true
}

// bodyLimitMiddleware makes oversized bodies fail while being read, which
// the error middleware answers with 413.
func bodyLimitMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxBody)
		}
		c.Next()
	}
}

// recoveryMiddleware turns a panic into a reported error. It sits inside
// the error and audit middleware so that a crashing handler still gets the
// JSON error shape and an audit entry.
func recoveryMiddleware(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(r)
				}
				log.Error("handler panic", "path", c.Request.URL.Path,
					"request_id", RequestID(c.Request.Context()), "panic", r, "stack", string(debug.Stack()))
				_ = c.Error(fmt.Errorf("panic: %v", r))
				c.Abort()
			}
		}()
		c.Next()
	}
}

// authMiddleware resolves the bearer token to an actor and a role and
// enforces the role's coarse rights: viewers only read.
func (s *Server) authMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			_ = c.Error(&Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
				Message: "missing bearer token (Authorization: Bearer <token>)"})
			c.Abort()
			return
		}
		tok, err := s.store.LookupToken(c.Request.Context(), token)
		if err != nil {
			if errors.Is(err, models.ErrNotFound) {
				err = &Error{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "invalid or revoked token"}
			}
			_ = c.Error(err)
			c.Abort()
			return
		}
		withValue(c, actorKey, tok.Name)
		c.Set(ctxRole, tok.Role)
		if !readOnly(c.Request.Method) && tok.Role != RoleAdmin && tok.Role != RoleOperator {
			_ = c.Error(&Error{Status: http.StatusForbidden, Code: CodeForbidden,
				Message: fmt.Sprintf("role %q may only read", tok.Role)})
			c.Abort()
			return
		}
		c.Next()
	}
}

// requireRole guards routes above the coarse check, such as token
// management.
func requireRole(role string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if got := c.GetString(ctxRole); got != role {
			_ = c.Error(&Error{Status: http.StatusForbidden, Code: CodeForbidden,
				Message: fmt.Sprintf("role %q required, token has %q", role, got)})
			c.Abort()
			return
		}
		c.Next()
	}
}

func readOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// auditMiddleware records every mutating call under /api once the response
// status is known, failures included: a refused or failed attempt is as
// much a part of the record as a successful one.
func (s *Server) auditMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if readOnly(c.Request.Method) || !strings.HasPrefix(c.Request.URL.Path, "/api/") {
			return
		}
		ctx := c.Request.Context()
		e := &models.AuditEntry{
			At:        s.now().UTC(),
			Actor:     Actor(ctx),
			Method:    c.Request.Method,
			Path:      truncate(c.Request.URL.Path, 255),
			Status:    c.Writer.Status(),
			RequestID: RequestID(ctx),
			Detail:    c.GetString(ctxErrorCode),
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

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
