package api

import (
	"archive/zip"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// Live tail bounds. The poll interval keeps a tail within a fraction of a
// second of the worker, which itself ships output about once a second; the
// limit keeps a forgotten tab from holding a connection and a poller
// forever: a client still interested reconnects from where it stopped.
var (
	followPoll  = 300 * time.Millisecond
	followLimit = time.Hour
	// followIdleHook, set by tests, runs whenever a follower has sent
	// everything stored and waits for more.
	followIdleHook func()
)

// followLog streams an instance's output from offset as it is stored,
// flushing every piece, until the instance is terminal and everything was
// sent, the client goes away, or followLimit passes. Headers go out before
// the output is known, so the final position and status travel as
// trailers (X-Next-Offset, X-Instance-Status) for clients that want to
// resume.
func (s *Server) followLog(c *gin.Context, id string, offset int64, size int64) {
	ctx := c.Request.Context()
	h := c.Writer.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	// Reverse proxies (nginx) would otherwise buffer the stream away.
	h.Set("X-Accel-Buffering", "no")
	h.Set("X-Log-Size", strconv.FormatInt(size, 10))
	h.Set("Trailer", "X-Next-Offset, X-Instance-Status")
	c.Status(http.StatusOK)
	c.Writer.WriteHeaderNow()
	c.Writer.Flush()
	out := newDeadlineWriter(c.Writer)

	state := ""
	defer func() {
		h.Set("X-Next-Offset", strconv.FormatInt(offset, 10))
		if state != "" {
			h.Set("X-Instance-Status", state)
		}
		out.Flush()
	}()
	deadline := time.NewTimer(followLimit)
	defer deadline.Stop()
	tick := time.NewTicker(followPoll)
	defer tick.Stop()
	for {
		// The status is read before the output: a worker stores all its
		// output before the instance turns terminal, so a terminal status
		// followed by an empty read means nothing more will come.
		inst, err := s.store.GetInstance(ctx, id)
		switch {
		case err == nil:
			state = inst.Status
		case !errors.Is(err, models.ErrNotFound):
			_ = c.Error(fmt.Errorf("follow log of %s: %w", id, err))
			return
		}
		data, err := s.store.ReadLog(ctx, id, offset, defaultLogChunk)
		if err != nil {
			if ctx.Err() == nil {
				_ = c.Error(fmt.Errorf("follow log of %s: %w", id, err))
			}
			return
		}
		if len(data) > 0 {
			if _, err := out.Write(data); err != nil {
				return // the client went away
			}
			out.Flush()
			offset += int64(len(data))
			if len(data) == defaultLogChunk {
				continue // more is probably stored already: no need to wait
			}
		} else if status.Instance(state).Terminal() {
			return
		} else if followIdleHook != nil {
			followIdleHook()
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			return
		case <-tick.C:
		}
	}
}

// archiveChunk is how much of one log is held in memory while archiving.
const archiveChunk = 1 << 20

// runLogs answers a zip of every instance log of a run, one entry per
// instance named <node>/<shard>-attempt<N>.log, plus run.json with the run
// detail. The archive is written while it is read, so a run with many
// large logs costs a bounded amount of memory.
func (s *Server) runLogs(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	detail, err := s.runDetail(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	insts, err := s.store.ListInstances(ctx, id)
	if err != nil {
		_ = c.Error(err)
		return
	}
	meta, err := json.MarshalIndent(detail, "", "  ")
	if err != nil {
		_ = c.Error(fmt.Errorf("archive logs of run %s: encode run: %w", id, err))
		return
	}
	c.Header("Content-Type", "application/zip")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="run-%s-logs.zip"`, id))
	c.Status(http.StatusOK)
	zw := zip.NewWriter(newDeadlineWriter(c.Writer))
	fail := func(err error) {
		// The status line is gone; an unfinished archive (no central
		// directory) is how the client learns, and the log how we do.
		if ctx.Err() == nil {
			_ = c.Error(fmt.Errorf("archive logs of run %s: %w", id, err))
		}
	}
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "run.json", Method: zip.Deflate, Modified: s.now()})
	if err == nil {
		_, err = w.Write(meta)
	}
	if err != nil {
		fail(err)
		return
	}
	for i := range insts {
		if err := s.archiveInstance(c, zw, &insts[i]); err != nil {
			fail(err)
			return
		}
	}
	if err := zw.Close(); err != nil {
		fail(err)
	}
}

func (s *Server) archiveInstance(c *gin.Context, zw *zip.Writer, in *models.Instance) error {
	ctx := c.Request.Context()
	modified := in.CreatedAt
	for _, t := range []*time.Time{in.StartedAt, in.FinishedAt} {
		if t != nil {
			modified = *t
		}
	}
	name := fmt.Sprintf("%s/%d-attempt%d.log", archiveDir(in.NodeID), in.ShardIndex, in.Attempt)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modified.UTC()})
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	size, err := s.store.LogSize(ctx, in.ID)
	if err != nil {
		return err
	}
	for offset := int64(0); offset < size; {
		data, err := s.store.ReadLog(ctx, in.ID, offset, archiveChunk)
		if err != nil {
			return err
		}
		if len(data) == 0 {
			break
		}
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
		offset += int64(len(data))
	}
	return nil
}

// archiveDir keeps node ids made only of dots ("..", allowed by the id
// syntax) from turning into path traversal when the archive is unpacked.
func archiveDir(node string) string {
	if node == "" || strings.Trim(node, ".") == "" {
		return strings.Repeat("_", max(len(node), 1))
	}
	return node
}
