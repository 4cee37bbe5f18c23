package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"

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
)

type ctxKey int

const (
	actorKey ctxKey = iota
	requestIDKey
)

// principal is the token a request authenticated with.
type principal struct {
	id   uint64
	name string
	role string
}

// role is the role of the token that made the request; empty outside one.
func role(ctx context.Context) string {
	p, _ := ctx.Value(actorKey).(principal)
	return p.role
}

// Actor is the name of the token that made the request, as recorded in
// transitions and run initiators; empty outside a request. Token names are
// unique and never reused, so the name identifies the token; the audit log
// records its id too (ActorID).
func Actor(ctx context.Context) string {
	p, _ := ctx.Value(actorKey).(principal)
	return p.name
}

// ActorID is the id of the token that made the request; 0 outside one.
func ActorID(ctx context.Context) uint64 {
	p, _ := ctx.Value(actorKey).(principal)
	return p.id
}

// RequestID is the request's id, taken from X-Request-ID or generated.
func RequestID(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

func withValue(c *gin.Context, key ctxKey, v any) {
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
// enforces the roles' rights: viewers only read, and the routes in
// adminRoutes are the admin's alone.
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
		withValue(c, actorKey, principal{id: tok.ID, name: tok.Name, role: tok.Role})
		var refusal string
		switch {
		case adminRoutes[routeKey(c)] && tok.Role != RoleAdmin:
			refusal = fmt.Sprintf("role %q required, token has %q", RoleAdmin, tok.Role)
		case !readOnly(c.Request.Method) && tok.Role != RoleAdmin && tok.Role != RoleOperator:
			refusal = fmt.Sprintf("role %q may only read", tok.Role)
		}
		if refusal != "" {
			_ = c.Error(&Error{Status: http.StatusForbidden, Code: CodeForbidden, Message: refusal})
			c.Abort()
			return
		}
		c.Next()
	}
}

func readOnly(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
