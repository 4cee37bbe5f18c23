package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
)

// Idempotency headers (docs/operations.md, "Operations": a repeat returns
// the first answer and has no second effect).
const (
	HeaderIdempotencyKey   = "Idempotency-Key"
	HeaderIdempotentReplay = "Idempotent-Replay"
)

// idempotencyWait bounds how long a repeat waits for the first request
// with its key to answer. It exceeds the engine's wait for a control signal
// (15 s), so a client retrying a slow stop gets the stop's answer rather
// than "in progress". A variable so tests need not wait that long.
var idempotencyWait = 20 * time.Second

const (
	// idempotencyStale is when an unanswered reservation is presumed dead
	// (its API process crashed): longer than any request takes, including
	// a run start (30 s) and a control wait.
	idempotencyStale = 2 * time.Minute
)

// tokensPath is exempt: a created token's answer holds its plaintext,
// which must never be stored (tokens are hashed at rest), and a replay
// without it would be useless.
const tokensPath = "/api/v1/tokens"

// idempotencyMiddleware gives every mutating call that carries an
// Idempotency-Key at most one effect per actor and key: the first request
// reserves the key, runs, and stores its answer; a repeat gets that answer
// verbatim, a concurrent repeat waits for it. It sits after auth, because
// keys belong to the token's actor.
func (s *Server) idempotencyMiddleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		key := c.GetHeader(HeaderIdempotencyKey)
		if readOnly(c.Request.Method) || key == "" || strings.HasPrefix(c.Request.URL.Path, tokensPath) {
			c.Next()
			return
		}
		// The key also becomes the request id of the transitions it causes,
		// so it must fit the same columns and rules as X-Request-ID.
		if !validRequestID(key) {
			_ = c.Error(badRequest("%s must be 1 to 64 printable ASCII characters without spaces", HeaderIdempotencyKey))
			c.Abort()
			return
		}
		body, err := io.ReadAll(c.Request.Body)
		if err != nil {
			_ = c.Error(fmt.Errorf("read request body: %w", err))
			c.Abort()
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		row := &models.IdempotencyKey{Actor: Actor(c.Request.Context()), Key: key, Method: c.Request.Method,
			Path: truncate(c.Request.URL.Path, 255), QueryHash: queryHash(c.Request.URL.Query()),
			BodyHash: hex.EncodeToString(sum[:]), Owner: uuid.NewString()}
		owned, err := s.claimIdempotencyKey(c, row)
		if err != nil {
			_ = c.Error(err)
			c.Abort()
			return
		}
		if !owned {
			return // replayed
		}
		s.runIdempotent(c, row)
	}
}

// claimIdempotencyKey reserves row's key for this request. It returns false
// after answering the request itself with the stored first answer.
func (s *Server) claimIdempotencyKey(c *gin.Context, row *models.IdempotencyKey) (bool, error) {
	ctx := c.Request.Context()
	// The first request with the key is still running: wait for its answer
	// (engine.Poll: 20 ms doubling to 500 ms, within idempotencyWait).
	claimed, err := engine.Poll(ctx, idempotencyWait, func() (bool, error) {
		got, err := s.store.ReserveIdempotencyKey(ctx, row)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, models.ErrConflict) || got == nil {
			return false, backoff.Permanent(fmt.Errorf("idempotency key %q: %w", row.Key, err))
		}
		if got.Method != row.Method || got.Path != row.Path {
			return false, backoff.Permanent(&Error{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
				Message: fmt.Sprintf("%s %q was first used for %s %s; use a new key for another request",
					HeaderIdempotencyKey, row.Key, got.Method, got.Path)})
		}
		if got.QueryHash != row.QueryHash {
			return false, backoff.Permanent(&Error{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
				Message: fmt.Sprintf("%s %q was first used with a different query (such as dry_run); use a new key for another request",
					HeaderIdempotencyKey, row.Key)})
		}
		if got.BodyHash != row.BodyHash {
			return false, backoff.Permanent(&Error{Status: http.StatusUnprocessableEntity, Code: CodeIdempotencyKeyReused,
				Message: fmt.Sprintf("%s %q was first used with a different request body; use a new key for another request",
					HeaderIdempotencyKey, row.Key)})
		}
		if got.Status != 0 {
			replay(c, got)
			return false, nil
		}
		if time.Since(got.CreatedAt) > idempotencyStale {
			taken, err := s.store.TakeOverIdempotencyKey(ctx, got.ID, got.Owner, row.Owner)
			if err != nil {
				return false, backoff.Permanent(fmt.Errorf("idempotency key %q: %w", row.Key, err))
			}
			if taken {
				row.ID = got.ID
				return true, nil
			}
		}
		return false, engine.ErrPending
	})
	switch {
	case err == nil:
		return claimed, nil
	case ctx.Err() != nil:
		return false, fmt.Errorf("wait for the first request with idempotency key %q: %w", row.Key, ctx.Err())
	case errors.Is(err, engine.ErrPending):
		return false, &Error{Status: http.StatusConflict, Code: CodeIdempotencyInProgress,
			Message: fmt.Sprintf("a request with %s %q is still in progress; retry later for its answer",
				HeaderIdempotencyKey, row.Key)}
	}
	return false, err
}

// queryHash fingerprints the query, so that ?dry_run=true and the real
// call cannot share a key. The parameters are sorted, so their order does
// not count; no query hashes to "", as rows stored before the query was
// part of the fingerprint have it.
func queryHash(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte(q.Encode()))
	return hex.EncodeToString(sum[:])
}

func replay(c *gin.Context, got *models.IdempotencyKey) {
	c.Header(HeaderIdempotentReplay, "true")
	// The audit entry of a repeat says it had no effect of its own.
	c.Set(ctxReplayed, true)
	ct := got.ContentType
	if ct == "" {
		ct = "application/json; charset=utf-8"
	}
	c.Data(got.Status, ct, got.Body)
	c.Abort()
}

// runIdempotent runs the handler as the owner of row and stores its answer.
// Server errors are not stored: the reservation is dropped so that a retry
// with the same key can succeed once the cause is gone, and the workflow's
// own dedupe on the request id still guards the control operations.
func (s *Server) runIdempotent(c *gin.Context, row *models.IdempotencyKey) {
	w := &capturingWriter{ResponseWriter: c.Writer}
	c.Writer = w
	// The answer must be stored even when the client has gone.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), 10*time.Second)
	defer cancel()
	settled := false
	defer func() {
		// Reached without settling only by a panic in the handler.
		if !settled {
			s.releaseIdempotencyKey(sctx, row)
		}
	}()
	c.Next()
	renderError(c, s.log)
	settled = true
	code := w.Status()
	if code >= http.StatusInternalServerError || c.IsAborted() && !w.Written() {
		s.releaseIdempotencyKey(sctx, row)
		return
	}
	if err := s.store.CompleteIdempotencyKey(sctx, row.ID, row.Owner, code, w.Header().Get("Content-Type"), w.buf.Bytes()); err != nil {
		s.log.Error("store idempotent answer", "key", row.Key, "actor", row.Actor, "path", row.Path, "err", err)
	}
}

func (s *Server) releaseIdempotencyKey(ctx context.Context, row *models.IdempotencyKey) {
	if err := s.store.ReleaseIdempotencyKey(ctx, row.ID, row.Owner); err != nil {
		s.log.Error("release idempotency key", "key", row.Key, "actor", row.Actor, "path", row.Path, "err", err)
	}
}

// capturingWriter keeps a copy of the body it writes.
type capturingWriter struct {
	gin.ResponseWriter
	buf bytes.Buffer
}

func (w *capturingWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *capturingWriter) WriteString(s string) (int, error) {
	w.buf.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
