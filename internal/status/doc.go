// Package status names the lifecycle states of runs, node runs and task
// instances (design.md §5) and says which of them are final. It is pure so
// that the workflow, the activities, the mirror and the API all speak the
// same words; the full per-entity state-machine table grows here.
package status
