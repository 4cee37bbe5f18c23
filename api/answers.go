package api

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/baton-sched/baton/models"
)

// The heavy console views of a run (the topology detail and the Gantt data
// of a 10,000-node run are megabytes, built from some 20,000 rows) are
// kept encoded once the run has ended: an ended run changes only when a
// retry, rerun or a late write touches it, and every such write moves the
// run's ChangeSeq (models.Run), which each request reads with the run. So
// an answer is served from the cache only while the run still ends at the
// ChangeSeq it was built at, whichever process wrote the change.

// answerCacheSize bounds the answers kept: a 10,000-node run's topology
// is ~5 MB, so the cache holds at most ~80 MB.
const answerCacheSize = 16

// answerCacheMin is the smallest answer worth keeping: smaller runs'
// views are built in a few milliseconds and would only evict big ones.
// Tests lower it.
var answerCacheMin = 64 << 10

type cachedAnswer struct {
	seq  int64
	body []byte
}

const jsonContentType = "application/json; charset=utf-8"

// answerRun writes view's answer for run: from the cache when cacheable
// (the run has ended and nothing live is asked for) and still current,
// otherwise built, encoded and, when cacheable, kept.
func (s *Server) answerRun(c *gin.Context, view string, run *models.Run, cacheable bool, build func() (any, error)) {
	cacheable = cacheable && !s.noCache
	key := view + "\x00" + run.ID
	prev, had := s.answers.Peek(key)
	if cacheable && had && prev.seq == run.ChangeSeq {
		s.answers.Get(key) // mark it recently used
		c.Data(http.StatusOK, jsonContentType, prev.body)
		return
	}
	v, err := build()
	if err != nil {
		_ = c.Error(err)
		return
	}
	if !cacheable {
		// Streamed: an open run's answer is never kept, so it need not be
		// held whole on top of what the encoder buffers.
		c.Header("Content-Type", jsonContentType)
		c.Status(http.StatusOK)
		if err := json.NewEncoder(c.Writer).Encode(v); err != nil {
			s.log.Warn("encode answer", "view", view, "run_id", run.ID, "err", err)
		}
		return
	}
	var buf bytes.Buffer
	if had {
		buf.Grow(len(prev.body) + len(prev.body)/8) // one allocation, not a dozen doublings
	}
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		_ = c.Error(err)
		return
	}
	body := buf.Bytes()
	if len(body) >= answerCacheMin {
		s.answers.Add(key, cachedAnswer{seq: run.ChangeSeq, body: body})
	}
	c.Data(http.StatusOK, jsonContentType, body)
}
