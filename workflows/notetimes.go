package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"
)

// noteClock times the transition-log entries of a run. workflow.Now is the
// same for everything one workflow task does, and the mirror drops an entry
// whose run, entity, target status and time (to the millisecond) it has
// already logged: that is how a batch sent twice is logged once. A signal
// storm that pauses, resumes and pauses a run again in one workflow task
// therefore lost its second running→paused, and the log then showed
// running→paused right after paused (fault case 9). Entries of one entity
// are given strictly increasing times instead, 1 ms apart when they share
// a workflow task; the times derive from workflow time alone, so a batch
// sent again carries the same ones and is still logged once.
type noteClock struct {
	last map[string]time.Time // entity/id -> time of its latest entry
	max  time.Time            // the latest time handed out
}

// noteAt is the time of a new transition-log entry of the entity.
func (r *runner) noteAt(entity, id string) time.Time {
	c := &r.notes
	now := workflow.Now(r.ctx).UTC().Truncate(time.Millisecond)
	if now.After(c.max) {
		// Entries before now cannot collide with a new one: forget them.
		c.last = nil
	}
	key := entity + "/" + id
	at := now
	if prev, ok := c.last[key]; ok && !at.After(prev) {
		at = prev.Add(time.Millisecond)
	}
	if c.last == nil {
		c.last = map[string]time.Time{}
	}
	c.last[key] = at
	if at.After(c.max) {
		c.max = at
	}
	return at
}
