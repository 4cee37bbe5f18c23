//go:build faults

package itest

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// recorded prefixes a script with its execution record: one line per
// execution in $BATON_PARAM_DIR/exec/<instance id>. An instance id names
// the run, node, shard and attempt, so a file with two lines is one
// attempt executed twice.
func recorded(script string) string {
	return `mkdir -p "$BATON_PARAM_DIR/exec" && echo "$$" >> "$BATON_PARAM_DIR/exec/$BATON_INSTANCE_ID"; ` + script
}

// expect is what one run must come to after a fault.
type expect struct {
	run    string
	status string
	// once: every shard of every node that ran was executed exactly once,
	// in one instance. That is the promise when no worker is lost (a lost
	// worker's instance runs again, as a new attempt: at least once).
	once bool
}

// checkFault is the one checker of the fault suite. For each run:
//
//  1. the run reaches a final status, and it is the expected one;
//  2. the mirror equals Temporal's view (assertMirrorMatches, waiting for
//     the reconciler and late writes up to within);
//  3. executions, from the records the scripts wrote (recorded): no
//     instance attempt ran twice; every instance the mirror calls
//     successful ran (nothing lost); nothing ran that the mirror does not
//     know as an instance of the run; and with once, each shard of each
//     node ran exactly one time.
func checkFault(e *ctlEnv, within time.Duration, wants ...expect) {
	t := e.t
	t.Helper()
	for _, w := range wants {
		r := e.waitFor(w.run, "a final status", within, func(r ctlRun) bool { return status.Run(r.Status).Terminal() })
		if r.Status != w.status {
			t.Errorf("run %s ended %s, want %s (%s)", w.run, r.Status, w.status, r.state())
		}
		checkTransitions(t, e.get(w.run))
	}
	runs := make([]string, len(wants))
	for i, w := range wants {
		runs[i] = w.run
	}
	assertMirrorMatches(t, e.s, within, runs...)

	recs := executionRecords(e)
	for _, w := range wants {
		m, err := e.s.store.LoadRunMirror(context.Background(), w.run)
		if err != nil {
			t.Fatalf("load mirror of run %s: %v", w.run, err)
		}
		known := map[string]bool{}
		perShard := map[string]int{}
		shardInstances := map[string]int{}
		for _, in := range m.Instances {
			known[in.ID] = true
			shardInstances[shardKey(in.NodeID, in.ShardIndex)]++
			if in.Status == string(status.InstanceSuccess) && recs[in.ID] == 0 {
				t.Errorf("run %s: instance %s is %s in the mirror but never executed", w.run, in.ID, in.Status)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(recs)) {
			node, shard, _, ok := workflows.ParseInstanceID(id, w.run)
			if !ok {
				continue
			}
			n := recs[id]
			if n > 1 {
				t.Errorf("run %s: instance %s executed %d times", w.run, id, n)
			}
			if !known[id] {
				t.Errorf("run %s: instance %s executed, but the mirror has no such instance", w.run, id)
			}
			perShard[shardKey(node, shard)] += n
		}
		if !w.once {
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(perShard)) {
			if perShard[k] != 1 || shardInstances[k] != 1 {
				t.Errorf("run %s: %s executed %d times in %d instances, want once (%s)", w.run, k, perShard[k], shardInstances[k], instanceLines(m.Instances))
			}
		}
	}
}

func shardKey(node string, shard int) string { return fmt.Sprintf("node %s shard %d", node, shard) }

// instanceLines describes instances for a failure message.
func instanceLines(ins []models.Instance) string {
	var b strings.Builder
	for _, in := range ins {
		fmt.Fprintf(&b, "\n    %s %s on %q: %s", in.ID, in.Status, in.WorkerID, in.Message)
	}
	return b.String()
}

// executionRecords counts the executions of each instance id.
func executionRecords(e *ctlEnv) map[string]int {
	e.t.Helper()
	dir := filepath.Join(e.dir, "exec")
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, ent := range ents {
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		out[ent.Name()] = len(strings.Fields(string(b)))
	}
	return out
}
