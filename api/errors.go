package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/internal/control"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
)

// Error codes. Clients switch on them, so they never change once released.
const (
	CodeBadRequest        = "bad_request"
	CodeInvalidDefinition = "invalid_definition"
	CodeUnauthorized      = "unauthorized"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found"
	CodeMethodNotAllowed  = "method_not_allowed"
	CodeConflict          = "conflict"
	CodeTooLarge          = "too_large"
	// CodeRunInputTooLarge: a definition or run whose input Temporal would
	// refuse, so no run of it could start.
	CodeRunInputTooLarge   = "run_input_too_large"
	CodeEngineUnavailable  = "engine_unavailable"
	CodeServiceUnavailable = "unavailable"
	CodeInternal           = "internal"

	// Control operations. The refusals of the state machines pass through
	// with the codes of internal/control (run_not_operable,
	// node_not_eligible, unknown_node, unknown_instance) and the workflow's
	// worker_gone.
	CodeRunClosed           = "run_closed"
	CodeNodeNeverDispatched = "node_never_dispatched"
	CodeEngineTimeout       = "engine_timeout"

	// Schedules and backfills.
	CodeScheduleSyncFailed  = "schedule_sync_failed"
	CodeBackfillClosed      = "backfill_closed"
	CodeBackfillNotOperable = "backfill_not_operable"

	// Idempotency-Key handling.
	CodeIdempotencyInProgress = "idempotency_in_progress"
	CodeIdempotencyKeyReused  = "idempotency_key_reused"
)

// Error is an error a handler wants answered with a specific status and
// code. Everything else is classified by the error middleware.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
	// Err keeps the cause for logs and errors.Is without showing it.
	Err error `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// errorBody is the envelope of every error response.
type errorBody struct {
	Error *Error `json:"error"`
}

func badRequest(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

// classify maps any error a handler reported to what the client sees.
// Domain errors carry their own message (they name the operation and the
// id, nothing internal); anything unrecognised becomes a bare 500.
func classify(err error) *Error {
	var (
		apiErr   *Error
		conflict *control.Conflict
		problems dag.Problems
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &conflict):
		return conflictError(conflict)
	case errors.Is(err, engine.ErrRunClosed):
		return &Error{Status: http.StatusConflict, Code: CodeRunClosed,
			Message: "the run is closed: only rerun and rerun-from-node apply", Err: err}
	case errors.Is(err, engine.ErrNeverDispatched):
		return &Error{Status: http.StatusConflict, Code: CodeNodeNeverDispatched, Message: err.Error()}
	case errors.As(err, &problems):
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalidDefinition,
			Message: problemsMessage(problems), Details: []dag.Problem(problems)}
	case errors.As(err, &tooLarge):
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge,
			Message: fmt.Sprintf("request body exceeds %d bytes", tooLarge.Limit)}
	case models.Unavailable(err):
		return &Error{Status: http.StatusServiceUnavailable, Code: CodeServiceUnavailable,
			Message: "the mirror database is unavailable; try again later", Err: err}
	case errors.Is(err, models.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: CodeNotFound, Message: err.Error()}
	case errors.Is(err, models.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: CodeConflict, Message: err.Error()}
	case errors.Is(err, models.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error", Err: err}
}

func problemsMessage(p dag.Problems) string {
	if len(p) == 1 {
		return "invalid definition: " + p[0].Path + ": " + p[0].Message
	}
	return fmt.Sprintf("invalid definition: %d problems", len(p))
}

// conflictError answers a refusal of the state machines. Offending is
// always a list, so a console can show it without checking for null.
func conflictError(c *control.Conflict) *Error {
	status := http.StatusConflict
	switch c.Code {
	case control.CodeUnknownNode, control.CodeUnknownInstance:
		status = http.StatusNotFound
	case control.CodeBadRequest:
		status = http.StatusBadRequest
	}
	offending := c.Offending
	if offending == nil {
		offending = []control.Offender{}
	}
	return &Error{Status: status, Code: c.Code, Message: c.Message, Details: gin.H{"offending": offending}}
}

// ctxErrorRendered marks a request whose error was already written.
const ctxErrorRendered = "baton.error_rendered"

// errorMiddleware renders the last error a handler reported, so handlers
// only ever call c.Error and return.
func errorMiddleware(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		renderError(c, log)
	}
}

// renderError writes the last reported error once. The idempotency
// middleware calls it early, inside the error middleware, because the
// error answer is part of what it stores and replays.
func renderError(c *gin.Context, log *slog.Logger) {
	if len(c.Errors) == 0 || c.GetBool(ctxErrorRendered) {
		return
	}
	c.Set(ctxErrorRendered, true)
	err := c.Errors.Last().Err
	e := classify(err)
	if e.Status >= 500 {
		level := slog.LevelError
		if errors.Is(err, context.Canceled) {
			// The client went away; nothing is wrong with the server.
			level = slog.LevelInfo
		}
		log.Log(c.Request.Context(), level, "request failed",
			"method", c.Request.Method, "path", c.Request.URL.Path,
			"request_id", RequestID(c.Request.Context()), "status", e.Status, "err", err)
	}
	c.Set(ctxErrorCode, e.Code)
	c.Set(ctxErrorMsg, e.Message)
	if c.Writer.Written() {
		// A streamed response already went out; only the log and the
		// audit can still learn about the failure.
		return
	}
	c.AbortWithStatusJSON(e.Status, errorBody{Error: e})
}

// decodeJSON reads a request body into v; see decodeBody.
func decodeJSON(c *gin.Context, v any, allowEmpty bool) error {
	data, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return badRequest("reading request body: %v", err)
	}
	return decodeBody(data, v, allowEmpty)
}

// decodeBody refuses unknown fields so that a misspelt key is reported
// instead of silently dropped. An empty body leaves v untouched when
// allowEmpty is set.
func decodeBody(data []byte, v any, allowEmpty bool) error {
	if len(bytes.TrimSpace(data)) == 0 {
		if allowEmpty {
			return nil
		}
		return badRequest("request body is empty, a JSON object is expected")
	}
	return unmarshalStrict(data, v)
}

func unmarshalStrict(data []byte, v any) error {
	// encoding/json turns invalid UTF-8 into U+FFFD and keeps the last of
	// duplicate keys; a proxy or another client may read the same bytes
	// differently (the first key, the raw bytes), so such a body is refused
	// rather than guessed at.
	if !utf8.Valid(data) {
		return badRequest("invalid JSON: the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return badRequest("invalid JSON: unexpected data after the top-level value")
	}
	return checkKeys(data)
}

// checkKeys walks a body that already decoded (so its nesting is bounded by
// the typed structs) and refuses an object with a key twice.
func checkKeys(data []byte) error {
	type frame struct {
		keys      map[string]bool // nil for an array
		expectKey bool
	}
	var stack []frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].keys != nil {
			stack[n-1].expectKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return jsonError(err)
		}
		if n := len(stack); n > 0 && stack[n-1].keys != nil && stack[n-1].expectKey {
			if key, ok := tok.(string); ok {
				if stack[n-1].keys[key] {
					return badRequest("invalid JSON: duplicate key %q in an object", truncate(key, 64))
				}
				stack[n-1].keys[key] = true
				stack[n-1].expectKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			f := frame{}
			if tok == json.Delim('{') {
				f = frame{keys: map[string]bool{}, expectKey: true}
			}
			stack = append(stack, f)
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}

// jsonError turns a decoding error into a 400 that names the field or the
// byte offset, which is what a user needs to fix the body.
func jsonError(err error) *Error {
	var (
		syntax  *json.SyntaxError
		typeErr *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &syntax):
		return badRequest("invalid JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &typeErr):
		// Bodies embed dag.Task or dag.Flow next to the id; the decoder names
		// the embedded Go type, which is no part of the JSON the user wrote.
		field := strings.TrimPrefix(strings.TrimPrefix(typeErr.Field, "Task."), "Flow.")
		want, got := jsonType(typeErr.Type), jsonValue(typeErr.Value)
		if field == "" {
			return badRequest("invalid JSON: the body must be %s, got %s", want, got)
		}
		return badRequest("invalid JSON: field %q must be %s, got %s", field, want, got)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("invalid JSON: unexpected end of body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("invalid JSON: unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	}
	return badRequest("invalid JSON: %v", err)
}

// jsonType names what JSON a Go type decodes from, so that a type error
// speaks the language of the body rather than of the server's structs.
func jsonType(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
		return "an object"
	case reflect.Struct:
		return "an object"
	}
	return "a JSON value"
}

// jsonValue names the JSON the decoder found: "string", "bool", "array",
// "object", "number", or "number 1.5" for a number that did not fit.
func jsonValue(v string) string {
	switch v {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "array":
		return "an array"
	case "object":
		return "an object"
	case "number":
		return "a number"
	}
	return v
}
