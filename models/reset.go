package models

import (
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/baton-sched/baton/internal/status"
)

// ResetWrite is what the first write of a reset execution (rerun-from-
// node) asks of the mirror, beyond its rows. The mirror holds what the
// execution the reset replaced wrote after the reset point, which the new
// execution never knew:
//   - instances it left open (a node running when the reset came) would
//     stay running for good, since that execution has ended: they become
//     stopped, except Live, the ones the new execution still waits for;
//   - the new execution's transitions start from the reset point's
//     statuses ("" for a run that is starting): each entity's first one
//     goes on from the status the log last recorded for it instead.
type ResetWrite struct {
	Live []string
}

// supersededMessage is the message of an instance a reset abandoned.
const supersededMessage = "abandoned: the run was reset (rerun-from-node) while it was open; its execution ended with the reset"

// applyReset abandons the replaced execution's open instances and
// returns the batch's transitions rebased on the log.
func applyReset(tx *gorm.DB, w writer, b MirrorBatch, now time.Time) ([]Transition, error) {
	var logged []Transition
	if err := tx.Select("entity", "entity_id", "to_status").Where("run_id = ?", b.RunID).
		Order("id").Find(&logged).Error; err != nil {
		return nil, fmt.Errorf("read transition log: %w", err)
	}
	last := make(map[string]string, len(logged))
	for _, t := range logged {
		last[t.Entity+"/"+t.EntityID] = t.ToStatus
	}

	var rev int64
	if b.Run != nil {
		rev = b.Run.Rev
	}
	keep := map[string]bool{}
	for _, id := range b.Reset.Live {
		keep[id] = true
	}
	for _, in := range b.Instances {
		keep[in.ID] = true
		rev = max(rev, in.Rev)
	}
	var open []Instance
	if err := tx.Select("id", "node_id", "shard_index", "attempt", "status", "rev").
		Where("run_id = ? AND status IN ?", b.RunID, openInstanceStatuses()).Order("id").Find(&open).Error; err != nil {
		return nil, fmt.Errorf("read open instances: %w", err)
	}
	var ups []InstanceUpdate
	var out []Transition
	for _, in := range open {
		if keep[in.ID] || in.Rev > rev {
			continue
		}
		ups = append(ups, InstanceUpdate{ID: in.ID, NodeID: in.NodeID, ShardIndex: in.ShardIndex, Attempt: in.Attempt,
			Status: string(status.InstanceStopped), Message: supersededMessage, Rev: rev, FinishedAt: &now})
		out = append(out, Transition{RunID: b.RunID, Entity: "instance", EntityID: in.ID, FromStatus: in.Status,
			ToStatus: string(status.InstanceStopped), Actor: "engine", Reason: supersededMessage, At: now})
		last["instance/"+in.ID] = string(status.InstanceStopped)
	}
	if len(ups) > 0 {
		if err := applyInstances(tx, w, b.RunID, ups, now); err != nil {
			return nil, fmt.Errorf("abandon open instances: %w", err)
		}
	}

	rebased := map[string]bool{}
	for _, t := range b.Transitions {
		key := t.Entity + "/" + t.EntityID
		if !rebased[key] {
			rebased[key] = true
			if prev, ok := last[key]; ok {
				t.FromStatus = prev
			}
		}
		if t.FromStatus != t.ToStatus {
			out = append(out, t)
		}
	}
	return out, nil
}

// openInstanceStatuses are the instance statuses a finished execution
// must not leave behind.
func openInstanceStatuses() []string {
	return []string{string(status.InstanceWaiting), string(status.InstanceRunning), string(status.InstanceStopping)}
}
