package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

const (
	// defaultHeartbeat keeps proxies (nginx's default read timeout is 60s)
	// from closing a stream that has nothing to say.
	defaultHeartbeat = 15 * time.Second
	// streamWriteWait bounds one write to a streaming client. Streams run
	// for as long as the run does, so they cannot live under the server's
	// WriteTimeout; each write extends the deadline instead, and a client
	// that stops reading is cut after this long.
	streamWriteWait = 30 * time.Second
	// catchUpBatch is how many logged transitions one catch-up read takes.
	catchUpBatch = 500
)

// eventView is one event's data: a transition of the run, a node or an
// instance, numbered by the transition log's id (also the SSE id).
type eventView struct {
	ID    uint64 `json:"id"`
	RunID string `json:"run_id"`
	transitionView
	// An instance's node, shard and attempt (read from its id), so that a
	// console can place a new instance under its node without reading the
	// run again: a node's menu depends on its last instance.
	Node    string `json:"node,omitempty"`
	Shard   *int   `json:"shard,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
}

func viewEvent(t *models.Transition) eventView {
	v := eventView{ID: t.ID, RunID: t.RunID, transitionView: transitionView{At: utc(t.At), Entity: t.Entity,
		EntityID: t.EntityID, From: t.FromStatus, To: t.ToStatus, Actor: t.Actor, Reason: t.Reason, RequestID: t.RequestID}}
	if t.Entity == "instance" {
		if node, shard, attempt, ok := workflows.ParseInstanceID(t.EntityID, t.RunID); ok {
			v.Node, v.Shard, v.Attempt = node, &shard, attempt
		}
	}
	return v
}

// sseWriter writes Server-Sent Events, each write moving the deadline
// (see streamWriteWait).
type sseWriter struct {
	out *deadlineWriter
}

func startSSE(c *gin.Context) *sseWriter {
	h := c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	// nginx buffers proxied responses unless told not to.
	h.Set("X-Accel-Buffering", "no")
	c.Status(http.StatusOK)
	w := &sseWriter{out: newDeadlineWriter(c.Writer)}
	// Headers now: a client learns the stream is open before any event.
	c.Writer.WriteHeaderNow()
	w.out.Flush()
	return w
}

func (w *sseWriter) write(s string) error {
	if _, err := w.out.Write([]byte(s)); err != nil {
		return err
	}
	w.out.Flush()
	return nil
}

func (w *sseWriter) event(id, name string, data any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	var sb strings.Builder
	if id != "" {
		sb.WriteString("id: " + id + "\n")
	}
	sb.WriteString("event: " + name + "\ndata: ")
	sb.Write(b)
	sb.WriteString("\n\n")
	return w.write(sb.String())
}

func (w *sseWriter) transition(t *models.Transition) error {
	return w.event(strconv.FormatUint(t.ID, 10), t.Entity, viewEvent(t))
}

// streamParams reads the resume point (Last-Event-ID, or ?after= for
// clients that cannot set headers) and refuses parameters the route does
// not know, so a typo is not silently a different stream.
func streamParams(c *gin.Context, known ...string) (after uint64, resumed bool, err error) {
	var unknown []string
	for k := range c.Request.URL.Query() {
		if k != "after" && !contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return 0, false, badRequest("unknown query parameter(s) %s; this stream takes %s", strings.Join(unknown, ", "),
			strings.Join(append([]string{"after"}, known...), ", "))
	}
	raw, name := c.GetHeader("Last-Event-ID"), "Last-Event-ID"
	if q, ok := c.GetQuery("after"); ok {
		raw, name = q, "after"
	}
	if raw == "" {
		return 0, false, nil
	}
	after, perr := strconv.ParseUint(raw, 10, 64)
	if perr != nil {
		return 0, false, badRequest("%s must be an event id (a non-negative integer), got %q", name, truncate(raw, 64))
	}
	return after, true, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// endsStream reports whether a run in st ends a stream that runs until
// "terminal" (any final status, though failed runs stay operable) or
// "closed" (statuses whose workflow is gone: nothing more can happen).
func endsStream(st status.Run, until string) bool {
	if until == "closed" {
		switch st {
		case status.RunSuccess, status.RunSkipped, status.RunRolledBack, status.RunAbandoned:
			return true
		}
		return false
	}
	return st.Terminal()
}

type endView struct {
	RunID  string `json:"run_id"`
	Status string `json:"status"`
}

// runEvents streams a run's transitions (GET /api/v1/runs/{id}/events):
// first those logged after the resume point (all of them on a first
// connect), then each new one as the shared feed reads it, and finally an
// "end" event when the run reaches a status that ends the stream.
func (s *Server) runEvents(c *gin.Context) {
	id := c.Param("id")
	after, _, err := streamParams(c, "until")
	if err != nil {
		_ = c.Error(err)
		return
	}
	until := c.DefaultQuery("until", "terminal")
	if until != "terminal" && until != "closed" {
		_ = c.Error(badRequest("until must be terminal or closed, got %q", truncate(until, 64)))
		return
	}
	ctx := c.Request.Context()
	filter := models.TransitionFilter{RunID: id}
	var w *sseWriter
	for {
		sub, err := s.feed.Subscribe(ctx, filter.Match)
		if err != nil {
			s.streamError(c, w, fmt.Errorf("events of run %s: %w", id, err))
			return
		}
		run, err := s.store.GetRun(ctx, id)
		if err != nil {
			s.feed.Unsubscribe(sub)
			s.streamError(c, w, err)
			return
		}
		if w == nil {
			w = startSSE(c)
		}
		var out outcome
		endStatus := ""
		after, out, err = s.pump(ctx, w, sub, filter, after, func(t *models.Transition) bool {
			if t.Entity == "run" && endsStream(status.Run(t.ToStatus), until) {
				endStatus = t.ToStatus
				return true
			}
			return false
		}, func() (bool, error) {
			// The log decides, as it does for live events: the run's
			// latest transition, unless it is still on its way.
			last, err := s.store.LastRunTransition(ctx, id)
			switch {
			case errors.Is(err, models.ErrNotFound):
				return endsStream(status.Run(run.Status), until), nil
			case err != nil:
				return false, err
			case last.ID > sub.From():
				return false, nil
			}
			endStatus = last.ToStatus
			return endsStream(status.Run(last.ToStatus), until), nil
		})
		s.feed.Unsubscribe(sub)
		switch {
		case err != nil:
			s.log.Warn("run event stream", "run", id, "err", err)
			return
		case out == ended:
			if endStatus == "" {
				endStatus = run.Status
			}
			_ = w.event("", "end", endView{RunID: id, Status: endStatus})
			return
		case out == gone:
			return
		}
		// Dropped for falling behind: catch up from the log and go on.
	}
}

// runsEvents streams every run's run-level transitions (GET
// /api/v1/runs/events): a run appearing ("" or waiting to running) and
// each status change, for a runs list to refresh. It never ends by itself.
// Without a resume point it starts at the log's current end.
func (s *Server) runsEvents(c *gin.Context) {
	after, resumed, err := streamParams(c)
	if err != nil {
		_ = c.Error(err)
		return
	}
	ctx := c.Request.Context()
	filter := models.TransitionFilter{Entity: "run"}
	var w *sseWriter
	for {
		sub, err := s.feed.Subscribe(ctx, filter.Match)
		if err != nil {
			s.streamError(c, w, fmt.Errorf("run events: %w", err))
			return
		}
		if !resumed {
			after, resumed = sub.From(), true
		}
		if w == nil {
			w = startSSE(c)
		}
		var out outcome
		after, out, err = s.pump(ctx, w, sub, filter, after, func(*models.Transition) bool { return false },
			func() (bool, error) { return false, nil })
		s.feed.Unsubscribe(sub)
		if err != nil {
			s.log.Warn("runs event stream", "err", err)
			return
		}
		if out == gone {
			return
		}
	}
}

// outcome is how one pass of pump ended.
type outcome int

const (
	dropped outcome = iota // the feed dropped the subscription: resubscribe
	ended                  // the stream is over
	gone                   // the client went away
)

// pump sends what the log holds in (after, sub.From] and then what the
// feed delivers, until ends says an event ended the stream, endedBefore
// (asked once the catch-up is sent) says the stream was over already, the
// client leaves, or the feed drops the subscription. It returns the last
// id sent.
func (s *Server) pump(ctx context.Context, w *sseWriter, sub *models.Subscription, filter models.TransitionFilter,
	after uint64, ends func(*models.Transition) bool, endedBefore func() (bool, error)) (uint64, outcome, error) {
	for after < sub.From() {
		rows, err := s.store.TransitionsAfter(ctx, filter, after, sub.From(), catchUpBatch)
		if err != nil {
			return after, gone, err
		}
		for i := range rows {
			if err := w.transition(&rows[i]); err != nil {
				return after, gone, nil
			}
			after = rows[i].ID
		}
		if len(rows) < catchUpBatch {
			after = max(after, sub.From())
		}
	}
	if done, err := endedBefore(); err != nil || done {
		return after, ended, err
	}
	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return after, gone, nil
		case <-heartbeat.C:
			if err := w.write(": keepalive\n\n"); err != nil {
				return after, gone, nil
			}
		case t, ok := <-sub.C():
			if !ok {
				return after, dropped, nil
			}
			if t.ID <= after {
				continue
			}
			if err := w.transition(&t); err != nil {
				return after, gone, nil
			}
			after = t.ID
			if ends(&t) {
				return after, ended, nil
			}
		}
	}
}

// streamError reports err as the usual JSON error before the stream has
// started, and only logs it after (the status line is already sent).
func (s *Server) streamError(c *gin.Context, w *sseWriter, err error) {
	if w == nil {
		_ = c.Error(err)
		return
	}
	s.log.Warn("event stream", "path", c.Request.URL.Path, "err", err)
}
