package workflows

import (
	"fmt"
	"strconv"
	"strings"
)

// The ids below are part of recorded histories (activity ids) and of the
// mirror (instance and run ids): their format never changes, or open runs
// and stored rows would stop matching.

// InstanceID names one attempt of one shard of a node in a run:
// "<run>.<node>.<shard>.<attempt>". It is the activity id of the attempt
// and, outside a reset run, its instance record's id.
func InstanceID(runID, nodeID string, shard, attempt int) string {
	return fmt.Sprintf("%s.%s.%d.%d", runID, nodeID, shard, attempt)
}

// ExecutionSuffix is what the instance ids of a reset execution add to
// their InstanceID: "~" and the first 8 characters of the execution's
// Temporal run id.
func ExecutionSuffix(temporalRunID string) string {
	if len(temporalRunID) > 8 {
		temporalRunID = temporalRunID[:8]
	}
	return "~" + temporalRunID
}

// ParseInstanceID reads an InstanceID of run runID, or the instance id of
// a reset execution, which adds "~<execution>" to it (executionSuffix).
// Node ids may hold dots, so the shard and attempt are the last two parts
// and both must be numbers: node "a" does not claim the instances of node
// "a.b".
func ParseInstanceID(id, runID string) (nodeID string, shard, attempt int, ok bool) {
	if i := strings.LastIndex(id, "~"); i > len(runID) {
		id = id[:i]
	}
	rest, ok := strings.CutPrefix(id, runID+".")
	if !ok {
		return "", 0, 0, false
	}
	i := strings.LastIndex(rest, ".")
	if i < 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndex(rest[:i], ".")
	if j <= 0 {
		return "", 0, 0, false
	}
	s, err1 := strconv.Atoi(rest[j+1 : i])
	a, err2 := strconv.Atoi(rest[i+1:])
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return rest[:j], s, a, true
}

// BackfillRunID names the run of a backfill's date (its index in the
// backfill's dates) at an attempt: "<backfill>-<index>-<attempt>".
func BackfillRunID(backfillID string, index, attempt int) string {
	return fmt.Sprintf("%s-%d-%d", backfillID, index, attempt)
}

// ParseBackfillRunID reads a BackfillRunID of backfill backfillID.
func ParseBackfillRunID(runID, backfillID string) (index, attempt int, ok bool) {
	rest, ok := strings.CutPrefix(runID, backfillID+"-")
	if !ok {
		return 0, 0, false
	}
	is, as, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	index, err1 := strconv.Atoi(is)
	attempt, err2 := strconv.Atoi(as)
	if err1 != nil || err2 != nil || index < 0 || attempt < 0 {
		return 0, 0, false
	}
	return index, attempt, true
}
