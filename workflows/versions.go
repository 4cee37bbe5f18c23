package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// change is one behaviour change of a workflow, asked with
// workflow.GetVersion. Every GetVersion call goes through change.get, so
// the changes declared with newChange are the whole list of versions in
// this package; TestEveryVersionHasAFixture demands a recorded history
// (testdata/) of every version of every change.
type change struct {
	workflow string           // registered workflow type name
	id       string           // the change id recorded in histories
	max      workflow.Version // the newest version, the one new executions take
}

// changes holds every change declared with newChange.
var changes []*change

func newChange(workflowType, id string, newest workflow.Version) *change {
	c := &change{workflow: workflowType, id: id, max: newest}
	changes = append(changes, c)
	return c
}

// get is the version this execution runs for the change: the one its
// history recorded, or c.max for code not run before.
func (c *change) get(ctx workflow.Context) workflow.Version {
	return workflow.GetVersion(ctx, c.id, workflow.DefaultVersion, c.max)
}

// fixturePrefixes are the workflow types' short names in fixture files.
var fixturePrefixes = map[string]string{
	RunWorkflowName:      "run",
	FireWorkflowName:     "fire",
	BackfillWorkflowName: "backfill",
}

// CurrentVersion is the version a new execution of the workflow type
// records: the newest version among its changes, 0 for a workflow type
// with no change yet.
func CurrentVersion(workflowType string) int {
	v := 0
	for _, c := range changes {
		if c.workflow == workflowType && int(c.max) > v {
			v = int(c.max)
		}
	}
	return v
}

// HistoryFixture is the file name (in workflows/testdata) of a history of
// the workflow type recorded today: "<type>-v<CurrentVersion>-<name>.json".
// Names carry the version they record, so recording the current version
// never replaces the histories of older ones.
func HistoryFixture(workflowType, name string) string {
	return HistoryFixtureOf(workflowType, name, CurrentVersion(workflowType))
}

// HistoryFixtureOf is the file name of a history of the workflow type
// that records version v: a history that passes no newer change (a fire
// without pause_on_failure) records an older version than the current.
func HistoryFixtureOf(workflowType, name string, v int) string {
	prefix, ok := fixturePrefixes[workflowType]
	if !ok {
		panic("workflows: no fixture prefix for workflow type " + workflowType)
	}
	return fmt.Sprintf("%s-v%d-%s.json", prefix, v, name)
}
