package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/activities"
	"github.com/baton-sched/baton/models"
)

// maxLogChunk bounds one log read: a tailing console asks again from
// X-Next-Offset, so no single answer has to hold a whole log.
const (
	defaultLogChunk = 1 << 20
	maxLogChunk     = 8 << 20
)

// instanceLog serves an instance's output from offset on, as text, at most
// max bytes (default 1 MiB, at most 8 MiB).
// X-Log-Size is the size stored so far and X-Next-Offset where the next read
// starts; a reader tails a running instance by polling with that offset
// until the instance is terminal and the offsets meet. With follow=true the
// answer instead streams until the instance is terminal (see followLog),
// and max is ignored.
func (s *Server) instanceLog(c *gin.Context) {
	ctx := c.Request.Context()
	offset, err := int64Param(c, "offset")
	if err != nil {
		_ = c.Error(err)
		return
	}
	limit, err := intParam(c, "max", defaultLogChunk)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if limit == 0 {
		limit = defaultLogChunk
	}
	limit = min(limit, maxLogChunk)
	follow, err := boolParam(c, "follow")
	if err != nil {
		_ = c.Error(err)
		return
	}
	id := c.Param("id")
	// A worker may ship output before the instance reaches the mirror, so
	// stored output alone is enough to answer.
	state := ""
	inst, err := s.store.GetInstance(ctx, id)
	switch {
	case err == nil:
		state = inst.Status
	case !errors.Is(err, models.ErrNotFound):
		_ = c.Error(err)
		return
	}
	size, err := s.store.LogSize(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	if inst == nil && size == 0 {
		_ = c.Error(fmt.Errorf("instance %q: %w", id, models.ErrNotFound))
		return
	}
	if follow {
		s.followLog(c, id, offset, size)
		return
	}
	var data []byte
	if offset < size {
		if data, err = s.store.ReadLog(ctx, id, offset, limit); err != nil {
			_ = c.Error(err)
			return
		}
	}
	c.Header("X-Log-Size", strconv.FormatInt(size, 10))
	c.Header("X-Next-Offset", strconv.FormatInt(offset+int64(len(data)), 10))
	if state != "" {
		c.Header("X-Instance-Status", state)
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", data)
}

func int64Param(c *gin.Context, name string) (int64, error) {
	raw := c.Query(name)
	if raw == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < 0 {
		return 0, badRequest("query parameter %q must be a non-negative integer, got %q", name, raw)
	}
	return v, nil
}

type workerView struct {
	ID        string     `json:"id"`
	Group     string     `json:"group"`
	Host      string     `json:"host"`
	PID       int        `json:"pid"`
	Running   int        `json:"running"`
	StartedAt *time.Time `json:"started_at"`
	LastSeen  *time.Time `json:"last_seen"`
	// Live: seen within activities.WorkerLiveness, the window in which the
	// engine counts a worker for broadcast and sharding.
	Live bool `json:"live"`
}

func (s *Server) listWorkers(c *gin.Context) {
	p, err := pageParams(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	ws, err := s.store.ListWorkers(c.Request.Context(), c.Query("group"))
	if err != nil {
		_ = c.Error(err)
		return
	}
	page := window(ws, p)
	items := make([]workerView, len(page))
	since := s.now().Add(-activities.WorkerLiveness)
	for i, w := range page {
		items[i] = workerView{ID: w.ID, Group: w.Group, Host: w.Host, PID: w.PID, Running: w.Running,
			StartedAt: utc(w.StartedAt), LastSeen: utc(w.LastSeen), Live: !w.LastSeen.Before(since)}
	}
	c.JSON(http.StatusOK, list[workerView]{Items: items, Total: int64(len(ws)), page: p})
}

// tokenView never carries the hash; the plaintext appears once, in the
// answer to the create call.
type tokenView struct {
	ID        uint64     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt *time.Time `json:"created_at"`
	LastUsed  *time.Time `json:"last_used"`
	Revoked   bool       `json:"revoked"`
	Token     string     `json:"token,omitempty"`
}

func viewToken(t *models.Token) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, Role: t.Role, CreatedAt: utc(t.CreatedAt),
		LastUsed: utcPtr(t.LastUsed), Revoked: t.Revoked}
}

func (s *Server) listTokens(c *gin.Context) {
	p, err := pageParams(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	ts, err := s.store.ListTokens(c.Request.Context())
	if err != nil {
		_ = c.Error(err)
		return
	}
	page := window(ts, p)
	items := make([]tokenView, len(page))
	for i := range page {
		items[i] = viewToken(&page[i])
	}
	c.JSON(http.StatusOK, list[tokenView]{Items: items, Total: int64(len(ts)), page: p})
}

func (s *Server) createToken(c *gin.Context) {
	var body struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}
	if err := decodeJSON(c, &body, false); err != nil {
		_ = c.Error(err)
		return
	}
	switch {
	case !models.ValidTokenName(body.Name):
		_ = c.Error(badRequest("name must be 1 to 64 characters of letters, digits, '-', '_', '.', got %q", body.Name))
		return
	case body.Role != RoleAdmin && body.Role != RoleOperator && body.Role != RoleViewer:
		_ = c.Error(badRequest("role must be %s, %s or %s, got %q", RoleAdmin, RoleOperator, RoleViewer, body.Role))
		return
	}
	plain, tok, err := s.store.CreateToken(c.Request.Context(), body.Name, body.Role)
	if errors.Is(err, models.ErrConflict) {
		err = &Error{Status: http.StatusConflict, Code: CodeConflict,
			Message: fmt.Sprintf("a token named %q already exists; token names are never reused, revoked tokens included", body.Name), Err: err}
	}
	if err != nil {
		_ = c.Error(err)
		return
	}
	auditTarget(c, strconv.FormatUint(tok.ID, 10))
	v := viewToken(tok)
	v.Token = plain
	c.JSON(http.StatusCreated, v)
}

func (s *Server) revokeToken(c *gin.Context) {
	id, err := strconv.ParseUint(c.Param("id"), 10, 64)
	if err != nil {
		_ = c.Error(badRequest("token id must be a positive integer, got %q", c.Param("id")))
		return
	}
	if err := s.store.RevokeToken(c.Request.Context(), id); err != nil {
		_ = c.Error(err)
		return
	}
	c.Status(http.StatusNoContent)
}
