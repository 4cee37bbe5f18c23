// Package status names the lifecycle states of runs, node runs, task
// instances and backfills, the operations on them and the rules for when
// each applies (docs/operations.md), and says which states are final. It
// is pure so that the workflow, the activities, the mirror and the API all
// speak the same words.
package status
