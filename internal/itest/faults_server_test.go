//go:build faults

package itest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/baton-sched/baton/workflows"
)

// fanOut is the width of case 4's sharding node.
const fanOut = 500

// Case 4: the embedded Temporal server stopped and started again, on the
// same port and SQLite file, while a 500-way fan-out runs (one sharding
// node of 500 shards, then a join). Workers and the API reconnect on their
// own; every shard succeeds; no attempt runs twice, and a shard runs again
// only as a new attempt after its worker lost it.
func TestFaultRestartTemporalDuringFanOut(t *testing.T) {
	c, e := twoWorkers(t)
	fan := map[string]any{"id": "fan", "type": "task", "task": map[string]any{"kind": "shell", "mode": "sharding",
		"shards": fanOut, "shell": map[string]any{"script": recorded("sleep 1")}}}
	run := e.start([]map[string]any{fan, ctlNodeSpec("join", recorded("true"), "")}, ctlEdges("fan>join"), nil)
	deadline := time.Now().Add(5 * time.Minute)
	for len(executionRecords(e)) < fanOut/4 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d shards started within 5m", len(executionRecords(e)), fanOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := len(executionRecords(e))
	c.stopTemporal()
	down := time.Now()
	time.Sleep(3 * time.Second)
	c.startTemporal()
	t.Logf("Temporal stopped with %d of %d shards started, back after %s", before, fanOut, time.Since(down).Round(100*time.Millisecond))
	checkFault(e, 5*time.Minute, expect{run: run, status: "success"})
	r := e.get(run)
	again := 0
	for _, in := range r.node("fan").Instances {
		if in.Attempt > 1 {
			again++
		}
	}
	if n := len(r.node("fan").Instances); n < fanOut {
		t.Errorf("fan has %d instances, want at least %d", n, fanOut)
	}
	t.Logf("%d shards ran again as a new attempt after the restart", again)
}

// Case 5: the mirror's MariaDB stopped for 30 s under load. While it is
// down the API answers 503 with code "unavailable" (not a bare 500), and
// the runs go on: Temporal sees them finish. Once it is back, the mirror
// converges (the workflows' held batches and the reconciler) and every
// node ran once.
func TestFaultMariaDBDown(t *testing.T) {
	m := startMariaDB(t)
	c := newCluster(t, clusterOptions{DSN: m.dsn()})
	c.startAPI()
	c.startWorker("default", "w1")
	c.startWorker("default", "w2")
	e := newCtlEnv(t, c.s)
	var runs []string
	for i := 0; i < 6; i++ {
		runs = append(runs, e.start([]map[string]any{
			ctlNodeSpec("a", recorded("sleep 2"), ""),
			ctlNodeSpec("b", recorded("sleep 4"), ""),
			ctlNodeSpec("c", recorded("sleep 4"), ""),
			ctlNodeSpec("d", recorded("sleep 4"), ""),
			ctlNodeSpec("e", recorded("true"), ""),
		}, ctlEdges("a>b", "b>c", "c>d", "d>e"), nil))
	}
	e.waitNode(runs[len(runs)-1], "a", "running")
	m.stop()
	down := time.Now()
	t.Logf("MariaDB stopped")

	// The API answers, clearly, that the database is gone.
	var codes []string
	for _, path := range []string{"/api/v1/runs", "/api/v1/runs/" + runs[0], "/healthz"} {
		a := request(t, "GET", c.s.base+path, nil, nil)
		var body struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		_ = json.Unmarshal(a.body, &body)
		if a.status != 503 || body.Error.Code != "unavailable" || body.Error.Message == "" {
			t.Errorf("GET %s with the database down: %d %s, want 503 unavailable", path, a.status, a.body)
		}
		codes = append(codes, body.Error.Code)
	}
	if code, raw := e.post("/api/v1/runs/"+runs[0]+"/pause", nil, nil); code != 503 {
		t.Errorf("pause with the database down: %d %s, want 503", code, raw)
	}
	t.Logf("API during the outage: %v", codes)

	// The runs keep going: Temporal sees every one finish.
	finished := 0
	for _, id := range runs {
		if closedWithin(c, id, 30*time.Second-time.Since(down)) {
			finished++
		}
	}
	t.Logf("%d of %d runs finished while the database was down", finished, len(runs))
	if finished == 0 {
		t.Errorf("no run finished during a 30 s database outage: the workflows are wedged")
	}
	if d := 30*time.Second - time.Since(down); d > 0 {
		time.Sleep(d)
	}
	m.start()
	t.Logf("MariaDB back after %s", time.Since(down).Round(100*time.Millisecond))
	waitHealthy(t, c.s.base)
	var wants []expect
	for _, id := range runs {
		wants = append(wants, expect{run: id, status: "success", once: true})
	}
	checkFault(e, 2*time.Minute, wants...)
}

// closedWithin reports whether the run's workflow closed within d.
func closedWithin(c *cluster, runID string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		desc, err := c.s.client.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(runID), "")
		if err == nil && desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Case 8: Temporal unreachable when a run is started. No run row is left
// waiting or running:
//   - down for longer than the API's start timeout: 502 engine_unavailable
//     naming the run, and the row is failed at once;
//   - down for a moment: the start is retried within the request and the
//     run succeeds;
//   - the API killed while its start hangs: the row stays waiting until
//     the reconciler of the restarted API fails it after its start grace.
func TestFaultTemporalDownAtRunStart(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	c.startAPI()
	c.startWorker("default", "w1")
	e := newCtlEnv(t, c.s)
	flow := e.flowWith([]map[string]any{ctlNodeSpec("a", recorded("true"), "")}, ctlEdges(), nil)

	c.stopTemporal()
	code, raw := e.post("/api/v1/flows/"+flow+"/runs", nil, nil)
	var refused struct {
		Error struct {
			Code    string
			Message string
			Details struct {
				RunID string `json:"run_id"`
			}
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &refused)
	if code != 502 || refused.Error.Code != "engine_unavailable" || refused.Error.Details.RunID == "" {
		t.Fatalf("run with Temporal down: %d %s, want 502 engine_unavailable with the run id", code, raw)
	}
	failed := refused.Error.Details.RunID
	if r := e.get(failed); r.Status != "failed" {
		t.Errorf("refused run %s is %s, want failed", failed, r.Status)
	}

	// Down for a moment: the start waits it out (the SDK retries within
	// the API's 30 s start timeout), or, when the server and the client's
	// reconnection take longer than that on a loaded machine, the run is
	// refused and failed as above. Either way nothing is left waiting.
	var brief, briefStatus string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		code, raw := e.post("/api/v1/flows/"+flow+"/runs", nil, nil)
		var run struct{ ID string }
		_ = json.Unmarshal(raw, &run)
		_ = json.Unmarshal(raw, &refused)
		switch {
		case code == 201:
			brief, briefStatus = run.ID, "success"
		case code == 502 && refused.Error.Code == "engine_unavailable":
			brief, briefStatus = refused.Error.Details.RunID, "failed"
		default:
			t.Errorf("run while Temporal restarts: %d %s, want 201 (or 502 engine_unavailable)", code, raw)
		}
	}()
	time.Sleep(time.Second)
	c.startTemporal()
	wg.Wait()
	t.Logf("a run started while Temporal was down for a moment ended up %s", briefStatus)

	// The API dies while the start hangs.
	c.stopTemporal()
	go func() {
		// The connection breaks when the API is killed: no answer to check.
		req, _ := http.NewRequest("POST", c.s.base+"/api/v1/flows/"+flow+"/runs", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	}()
	orphan := waitRunRow(t, c, flow, "waiting", failed, brief)
	c.api.kill()
	c.startTemporal()
	c.startAPI()
	wants := []expect{{run: failed, status: "failed"}, {run: orphan, status: "failed"}}
	if brief != "" {
		wants = append(wants, expect{run: brief, status: briefStatus, once: true})
	}
	checkFault(e, 90*time.Second, wants...)
	if r, err := c.s.store.GetRun(context.Background(), orphan); err == nil {
		t.Logf("run orphaned by the killed API: %s %q", r.Status, r.Message)
	}
}

// waitRunRow waits for a run of flow, other than skip, in status st.
func waitRunRow(t *testing.T, c *cluster, flow, st string, skip ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ids, err := c.s.store.ActiveRunIDs(context.Background(), "flow", flow, []string{"manual"})
		for _, id := range ids {
			if r, err := c.s.store.GetRun(context.Background(), id); err == nil && r.Status == st && !slices.Contains(skip, id) {
				return id
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no run of %s became %s within 30s (%v)", flow, st, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Case 6: the API process killed (-9) and started again, twice: in the
// middle of a run (the run goes on without it and the new process shows
// it), and during a control operation. For the second, the only worker is
// stopped first, so the pause request hangs on the workflow's answer
// when the API dies; whether or not its signal got through, the run stays
// operable, is resumed, and ends success with every node run once.
func TestFaultRestartAPI(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	c.startAPI()
	c.startWorker("default", "w1")
	e := newCtlEnv(t, c.s)
	run := e.start([]map[string]any{
		ctlNodeSpec("a", recorded(awaitFile("release-a")), ""),
		ctlNodeSpec("b", recorded(awaitFile("release-b")), ""),
		ctlNodeSpec("c", recorded("true"), ""),
	}, ctlEdges("a>b", "b>c"), nil)
	e.waitInstance(run, "a", "running")
	c.api.kill()
	e.touch("release-a")
	c.startAPI()
	e.waitInstance(run, "b", "running")

	c.signal("w1", syscall.SIGSTOP)
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", c.s.base+runPath(run, "pause"), strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		_ = resp.Body.Close()
		answered <- resp.StatusCode
	}()
	time.Sleep(2 * time.Second)
	select {
	case code := <-answered:
		t.Fatalf("the pause was answered (%d) while the only worker was stopped: the API did not die mid-operation", code)
	default:
	}
	c.api.kill()
	if code := <-answered; code != 0 {
		t.Fatalf("the pause was answered %d by a killed API", code)
	}
	c.signal("w1", syscall.SIGCONT)
	c.startAPI()
	r := e.waitFor(run, "the pause settled", 60*time.Second, func(r ctlRun) bool { return r.Status == "paused" || r.Status == "running" })
	t.Logf("after the API died during a pause the run is %s", r.Status)
	if r.Status == "running" {
		e.op(runPath(run, "pause"), nil)
		e.waitStatus(run, "paused")
	}
	e.op(runPath(run, "resume"), nil)
	e.touch("release-b")
	checkFault(e, 90*time.Second, expect{run: run, status: "success", once: true})
}

// Case 12: Temporal down across a cron fire time. Two flows fire at the
// same second (a daily cron); Temporal is stopped just before and started
// 20 s after. The flow whose catch-up window (5m) covers the outage runs
// once for that fire; the one whose window (10 s, Temporal's minimum) is
// shorter than the delay does not run at all.
func TestFaultTemporalDownAcrossCronFire(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	c.startAPI()
	c.startWorker("default", "w1")
	e := newCtlEnv(t, c.s)
	fire := time.Now().UTC().Add(20 * time.Second).Truncate(time.Second)
	cron := fmt.Sprintf("%d %d %d * * ?", fire.Second(), fire.Minute(), fire.Hour())
	flow := func(name, window string) string {
		var f struct{ ID string }
		body := map[string]any{"name": name, "params": map[string]string{"dir": e.dir},
			"nodes":   []map[string]any{ctlNodeSpec("a", recorded("true"), "")},
			"edges":   []any{},
			"trigger": map[string]any{"type": "cron", "cron": cron, "timezone": "UTC", "catchup_window": window}}
		if code := call(t, c.s.base, "POST", "/api/v1/flows", body, &f); code != 201 {
			t.Fatalf("create flow %s: %d", name, code)
		}
		return f.ID
	}
	caught := flow("catch-up-5m", "5m")
	missed := flow("catch-up-10s", "10s")
	time.Sleep(time.Until(fire.Add(-3 * time.Second)))
	c.stopTemporal()
	time.Sleep(time.Until(fire.Add(20 * time.Second)))
	c.startTemporal()
	t.Logf("Temporal down from %s to %s across the fire at %s", fire.Add(-3*time.Second).Format(time.TimeOnly),
		time.Now().UTC().Format(time.TimeOnly), fire.Format(time.TimeOnly))
	runs := waitScheduledRuns(t, c, caught, 1, 90*time.Second)
	checkFault(e, 60*time.Second, expect{run: runs[0], status: "success", once: true})
	// Nothing more comes for either: one catch-up, and none out of window.
	time.Sleep(5 * time.Second)
	if got := scheduledRuns(t, c, caught); len(got) != 1 {
		t.Errorf("flow %s (catch-up 5m) has %d runs, want the one caught up", caught, len(got))
	}
	if got := scheduledRuns(t, c, missed); len(got) != 0 {
		t.Errorf("flow %s (catch-up 10s) has runs %v, want none: its fire was 20 s late", missed, got)
	}
}

// scheduledRuns lists the runs of a definition.
func scheduledRuns(t *testing.T, c *cluster, def string) []string {
	t.Helper()
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	if code := call(t, c.s.base, "GET", "/api/v1/runs?definition="+def, nil, &list); code != 200 {
		t.Fatalf("list runs: %d", code)
	}
	var ids []string
	for _, it := range list.Items {
		ids = append(ids, it.ID)
	}
	return ids
}

func waitScheduledRuns(t *testing.T, c *cluster, def string, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if ids := scheduledRuns(t, c, def); len(ids) >= n {
			return ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("definition %s: fewer than %d runs within %s", def, n, within)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
