//go:build faults

package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/workflows"
)

// awaitFile runs until the test creates $BATON_PARAM_DIR/<name>, at most
// 120 s (a task orphaned by a killed worker must end on its own), and
// fails if it never came.
func awaitFile(name string) string {
	f := `"$BATON_PARAM_DIR/` + name + `"`
	return `i=0; while [ ! -f ` + f + ` ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done; [ -f ` + f + ` ]`
}

// touch creates the file in the env's shared directory.
func (e *ctlEnv) touch(name string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// twoWorkers is a cluster with the API and workers w1 and w2 of group
// default.
func twoWorkers(t *testing.T) (*cluster, *ctlEnv) {
	c := newCluster(t, clusterOptions{})
	c.startAPI()
	c.startWorker("default", "w1")
	c.startWorker("default", "w2")
	return c, newCtlEnv(t, c.s)
}

func otherWorker(id string) string {
	if id == "w1" {
		return "w2"
	}
	return "w1"
}

// Case 1: a worker killed with -9 in the middle of a shell task. Temporal
// notices the missing heartbeats (workflows.HeartbeatTimeout), the
// workflow records the instance as lost and runs it again, as attempt 2,
// on the live worker; the run succeeds and the downstream node runs once.
func TestFaultKillWorkerMidTask(t *testing.T) {
	c, e := twoWorkers(t)
	run := e.start([]map[string]any{
		ctlNodeSpec("a", recorded(awaitFile("release")), ""),
		ctlNodeSpec("b", recorded("true"), ""),
	}, ctlEdges("a>b"), nil)
	r := e.waitInstance(run, "a", "running")
	victim := r.node("a").Instances[0].WorkerID
	c.workers[victim].kill()
	killed := time.Now()
	r = e.waitFor(run, "a second attempt of a", 90*time.Second, func(r ctlRun) bool {
		in := r.node("a").Instances
		return len(in) == 2 && in[1].Status == "running"
	})
	t.Logf("attempt 2 running %s after the kill", time.Since(killed).Round(100*time.Millisecond))
	e.touch("release")
	checkFault(e, 90*time.Second, expect{run: run, status: "success"})
	r = e.get(run)
	in := r.node("a").Instances
	if len(in) != 2 || in[0].Status != "failed" || in[1].Status != "success" || in[1].WorkerID != otherWorker(victim) {
		t.Errorf("instances of a: %+v, want attempt 1 failed (lost with %s) and attempt 2 success on %s", in, victim, otherWorker(victim))
	}
	if b := r.node("b").Instances; len(b) != 1 {
		t.Errorf("b ran in %d instances, want 1", len(b))
	}
	if n := executionRecords(e)[workflows.InstanceID(run, "b", 0, 1)]; n != 1 {
		t.Errorf("b executed %d times", n)
	}
}

// Case 2: a worker stopped (SIGSTOP) for longer than the heartbeat
// timeout, then continued. The retry runs on the other worker and
// succeeds; the stopped worker's task meanwhile ends with exit 3 and, once
// the worker runs again, tries to report that. Its completion is stale
// (Temporal has timed the attempt out) and must not overwrite the retry's
// result: node a stays success with the retry's outputs, attempt 1 stays
// the lost one.
func TestFaultStoppedWorkerStaleCompletion(t *testing.T) {
	c, e := twoWorkers(t)
	script := `if [ "$BATON_ATTEMPT" = 1 ]; then ` + awaitFile("retried") + `; echo who=first >> "$BATON_OUTPUTS"; exit 3; fi; ` +
		`echo who=second >> "$BATON_OUTPUTS"`
	run := e.start([]map[string]any{
		ctlNodeSpec("a", recorded(script), ""),
		ctlNodeSpec("b", recorded("true"), ""),
	}, ctlEdges("a>b"), nil)
	r := e.waitInstance(run, "a", "running")
	victim := r.node("a").Instances[0].WorkerID
	c.signal(victim, syscall.SIGSTOP)
	stopped := time.Now()
	r = e.waitFor(run, "the retry of a done", 120*time.Second, func(r ctlRun) bool {
		in := r.node("a").Instances
		return len(in) >= 2 && in[len(in)-1].Status == "success"
	})
	t.Logf("retry succeeded %s after SIGSTOP", time.Since(stopped).Round(100*time.Millisecond))
	// The stopped worker's task ends now (exit 3, outputs who=first); the
	// worker reports it when it runs again.
	e.touch("retried")
	time.Sleep(2 * time.Second)
	c.signal(victim, syscall.SIGCONT)
	// Give the continued worker time to send its completion and its
	// heartbeat; the registry shows it alive again afterwards.
	waitWorkerBeat(t, c, victim, time.Now())
	time.Sleep(3 * time.Second)
	checkFault(e, 90*time.Second, expect{run: run, status: "success"})
	r = e.get(run)
	in := r.node("a").Instances
	if in[0].Status != "failed" || in[len(in)-1].Status != "success" {
		t.Errorf("instances of a: %+v, want attempt 1 failed (lost) and the last one success", in)
	}
	var detail struct {
		Nodes []struct {
			ID      string            `json:"id"`
			Outputs map[string]string `json:"outputs"`
		} `json:"nodes"`
	}
	call(t, c.s.base, "GET", "/api/v1/runs/"+run, nil, &detail)
	for _, n := range detail.Nodes {
		if n.ID == "a" && n.Outputs["who"] != "second" {
			t.Errorf("node a outputs %v, want the retry's (who=second)", n.Outputs)
		}
	}
	if out := c.workers[victim].output(); !strings.Contains(out, "baton worker running") {
		t.Errorf("worker %s output: %s", victim, out)
	}
}

// waitWorkerBeat waits until the worker's registration heartbeat is newer
// than since: the process runs again.
func waitWorkerBeat(t *testing.T, c *cluster, id string, since time.Time) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ws, err := c.s.store.ListWorkers(context.Background(), "")
		for _, w := range ws {
			if w.ID == id && w.LastSeen.After(since) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker %s sent no heartbeat since %s (%v)", id, since, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Case 3: a worker killed while it holds a workflow task. w1, the only
// worker, is stopped before the run starts, so the run's first workflow
// task is handed to one of its waiting polls; then it is killed and w2
// started. The task times out in Temporal and w2 takes the run over from
// its history: the run succeeds, every node run once.
func TestFaultKillWorkerHoldingWorkflowTask(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	c.startAPI()
	c.startWorker("default", "w1")
	e := newCtlEnv(t, c.s)
	// Stop it only once it is polling for workflow tasks, or nobody holds
	// the run's first one.
	waitPoller(t, c, workflows.FlowsTaskQueue, fmt.Sprintf("%d@", c.workers["w1"].cmd.Process.Pid))
	c.signal("w1", syscall.SIGSTOP)
	run := e.start([]map[string]any{ctlNodeSpec("a", recorded("true"), ""), ctlNodeSpec("b", recorded("true"), "")},
		ctlEdges("a>b"), nil)
	holder := waitWorkflowTaskStarted(t, c, run)
	if want := fmt.Sprintf("%d@", c.workers["w1"].cmd.Process.Pid); !strings.HasPrefix(holder, want) {
		t.Fatalf("the first workflow task was started by %q, want worker w1 (%s...)", holder, want)
	}
	c.workers["w1"].kill()
	c.startWorker("default", "w2")
	checkFault(e, 90*time.Second, expect{run: run, status: "success", once: true})
	if !historyHas(t, c, run, enumspb.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT) {
		t.Errorf("run %s: no workflow task timed out, so the kill did not hit a held task", run)
	}
	for _, n := range []string{"a", "b"} {
		if in := e.get(run).node(n).Instances; len(in) != 1 || in[0].WorkerID != "w2" {
			t.Errorf("node %s instances %+v, want one on w2", n, in)
		}
	}
}

// waitPoller waits until a worker whose identity starts with prefix polls
// the workflow task queue.
func waitPoller(t *testing.T, c *cluster, queue, prefix string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := c.s.client.DescribeTaskQueue(context.Background(), queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		if err == nil {
			for _, p := range d.GetPollers() {
				if strings.HasPrefix(p.GetIdentity(), prefix) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no poller %s... on %s within 30s (%v)", prefix, queue, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitWorkflowTaskStarted waits for the run's first workflow task to be
// started and returns the identity of the worker that took it.
func waitWorkflowTaskStarted(t *testing.T, c *cluster, run string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, ev := range history(t, c, run) {
			if a := ev.GetWorkflowTaskStartedEventAttributes(); a != nil {
				return a.GetIdentity()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s: no workflow task started within 30s", run)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func historyHas(t *testing.T, c *cluster, run string, typ enumspb.EventType) bool {
	for _, ev := range history(t, c, run) {
		if ev.GetEventType() == typ {
			return true
		}
	}
	return false
}

// history reads the run's current workflow history.
func history(t *testing.T, c *cluster, run string) []*historypb.HistoryEvent {
	t.Helper()
	it := c.s.client.GetWorkflowHistory(context.Background(), workflows.WorkflowID(run), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var out []*historypb.HistoryEvent
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return out // not started yet
		}
		out = append(out, ev)
	}
	return out
}

// Case 11: a worker of another group dies while it holds a broadcast
// instance. Group etl has workers e1 and e2 and runs the broadcast node;
// group default (w1) runs the rest of the flow. e2 is killed while its
// instance runs: that instance belongs to e2 alone, so it must not run
// elsewhere; it ends failed, clearly, and the run fails without hanging.
func TestFaultBroadcastWorkerDies(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	c.startAPI()
	c.startWorker("default", "w1")
	c.startWorker("etl", "e1")
	c.startWorker("etl", "e2")
	e := newCtlEnv(t, c.s)
	everywhere := map[string]any{"id": "everywhere", "type": "task", "task": map[string]any{"kind": "shell", "mode": "broadcast",
		"group": "etl", "shell": map[string]any{"script": recorded(awaitFile("release"))}}}
	run := e.start([]map[string]any{ctlNodeSpec("a", recorded("true"), ""), everywhere, ctlNodeSpec("z", recorded("true"), "")},
		ctlEdges("a>everywhere", "everywhere>z"), nil)
	e.waitFor(run, "both broadcast instances running", 60*time.Second, func(r ctlRun) bool {
		n := 0
		for _, in := range r.node("everywhere").Instances {
			if in.Status == "running" {
				n++
			}
		}
		return n == 2
	})
	c.workers["e2"].kill()
	killed := time.Now()
	e.touch("release")
	r := e.waitFor(run, "a final status", 3*time.Minute, func(r ctlRun) bool { return status.Run(r.Status).Terminal() })
	t.Logf("run %s %s after the kill", r.Status, time.Since(killed).Round(100*time.Millisecond))
	checkFault(e, 60*time.Second, expect{run: run, status: "failed"})
	r = e.get(run)
	for _, in := range r.node("everywhere").Instances {
		if in.WorkerID == "e1" && in.Status != "success" {
			t.Errorf("e1's broadcast instance %s is %s, want success", in.ID, in.Status)
		}
		if in.WorkerID != "e1" && in.WorkerID != "e2" {
			t.Errorf("broadcast instance %s ran on %q: it belongs to e2 or e1 only", in.ID, in.WorkerID)
		}
	}
	if z := r.node("z"); len(z.Instances) != 0 {
		t.Errorf("z ran after a failed broadcast: %+v", z)
	}
}
