package itest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
)

// The execution-control operations (docs/operations.md) on the real stack: an
// in-memory Temporal, the interpreter, a worker running real shell
// processes, and the API. Each operation has a case where it applies and
// does exactly its effect, and one where it is refused with 409 and changes
// nothing.

// ctlRun is the run detail as these tests read it.
type ctlRun struct {
	ID          string            `json:"id"`
	Status      string            `json:"status"`
	Trigger     string            `json:"trigger"`
	Version     int               `json:"version"`
	ParentRunID string            `json:"parent_run_id"`
	Params      map[string]string `json:"params"`
	Nodes       []ctlNode         `json:"nodes"`
	Transitions []ctlTransition   `json:"transitions"`
	Executions  []struct {
		TemporalRunID string   `json:"temporal_run_id"`
		Reason        string   `json:"reason"`
		Node          string   `json:"node"`
		Reexecuted    []string `json:"reexecuted"`
	} `json:"executions"`
}

type ctlNode struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Forced     bool       `json:"forced"`
	Attempts   int        `json:"attempts"`
	FinishedAt *time.Time `json:"finished_at"`
	Instances  []ctlInst  `json:"instances"`
}

type ctlInst struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Attempt  int    `json:"attempt"`
	WorkerID string `json:"worker_id"`
}

type ctlTransition struct {
	Entity    string `json:"entity"`
	EntityID  string `json:"entity_id"`
	From      string `json:"from"`
	To        string `json:"to"`
	Actor     string `json:"actor"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
}

func (r ctlRun) node(id string) ctlNode {
	for _, n := range r.Nodes {
		if n.ID == id {
			return n
		}
	}
	return ctlNode{ID: id}
}

// instStatuses lists a node's instance statuses, oldest attempt first.
func (r ctlRun) instStatuses(id string) []string {
	var out []string
	for _, in := range r.node(id).Instances {
		out = append(out, in.Status)
	}
	return out
}

// state summarises what an operation could change: the run's and nodes'
// statuses and every instance. Two equal states mean nothing happened.
func (r ctlRun) state() string {
	var b strings.Builder
	fmt.Fprintf(&b, "run=%s", r.Status)
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, " %s=%s/%v/%d[", n.ID, n.Status, n.Forced, n.Attempts)
		for _, in := range n.Instances {
			fmt.Fprintf(&b, "%s:%s ", in.ID, in.Status)
		}
		b.WriteString("]")
	}
	return b.String()
}

// ctlEnv is a stack plus a scratch directory the flows' scripts share
// (passed as the flow param "dir", so it reaches them as $BATON_PARAM_DIR).
type ctlEnv struct {
	t   *testing.T
	s   *stack
	dir string
}

func newCtlEnv(t *testing.T, s *stack) *ctlEnv {
	return &ctlEnv{t: t, s: s, dir: t.TempDir()}
}

func ctlShell(script string) map[string]any {
	return map[string]any{"kind": "shell", "shell": map[string]any{"script": script}}
}

// ctlNodeSpec is a task node running script; rollback, when given, is its
// compensation script.
func ctlNodeSpec(id, script, rollback string) map[string]any {
	task := ctlShell(script)
	if rollback != "" {
		task["rollback"] = ctlShell(rollback)
	}
	return map[string]any{"id": id, "type": "task", "task": task}
}

// edges builds success edges from "a>b" pairs; "a>b:failure" sets the condition.
func ctlEdges(pairs ...string) []map[string]any {
	out := []map[string]any{}
	for _, p := range pairs {
		from, rest, _ := strings.Cut(p, ">")
		to, on, _ := strings.Cut(rest, ":")
		e := map[string]any{"from": from, "to": to}
		if on != "" {
			e["on"] = on
		}
		out = append(out, e)
	}
	return out
}

// start saves a flow and runs it once with extra params.
func (e *ctlEnv) start(nodes []map[string]any, edges []map[string]any, params map[string]string) string {
	e.t.Helper()
	return e.runFlow(e.flowWith(nodes, edges, params))
}

// flowWith saves a flow whose params are the env's dir plus params.
func (e *ctlEnv) flowWith(nodes []map[string]any, edges []map[string]any, params map[string]string) string {
	e.t.Helper()
	p := map[string]string{"dir": e.dir}
	for k, v := range params {
		p[k] = v
	}
	name := strings.NewReplacer("/", "-", "#", "-").Replace(e.t.Name())
	if len(name) > 60 {
		name = name[len(name)-60:]
	}
	var f struct{ ID string }
	if code, raw := e.post("/api/v1/flows", map[string]any{"name": name, "nodes": nodes, "edges": edges, "params": p}, nil); code != 201 {
		e.t.Fatalf("create flow: %d %s", code, raw)
	} else if err := json.Unmarshal(raw, &f); err != nil {
		e.t.Fatal(err)
	}
	return f.ID
}

// runFlow runs a saved flow once.
func (e *ctlEnv) runFlow(flowID string) string {
	e.t.Helper()
	var run struct{ ID string }
	code, raw := e.post("/api/v1/flows/"+flowID+"/runs", nil, nil)
	if code != 201 {
		e.t.Fatalf("run flow: %d %s", code, raw)
	}
	if err := json.Unmarshal(raw, &run); err != nil {
		e.t.Fatal(err)
	}
	return run.ID
}

// post sends a mutating request and returns the status and raw answer.
func (e *ctlEnv) post(path string, body any, hdr map[string]string) (int, []byte) {
	e.t.Helper()
	code, raw, _ := e.send(path, body, hdr)
	return code, raw
}

func (e *ctlEnv) send(path string, body any, hdr map[string]string) (int, []byte, http.Header) {
	e.t.Helper()
	a := request(e.t, "POST", e.s.url()+path, body, hdr)
	return a.status, a.body, a.header
}

// op applies an operation that must be allowed and returns its answer.
func (e *ctlEnv) op(path string, body any) []byte {
	e.t.Helper()
	code, raw := e.post(path, body, nil)
	if code != 200 {
		e.t.Fatalf("POST %s: %d %s", path, code, raw)
	}
	return raw
}

// refused sends an operation that must be refused with want and code, and
// checks that the run did not change.
func (e *ctlEnv) refused(runID string, want int, code, path string, body any) {
	e.t.Helper()
	before := e.get(runID)
	got, raw := e.post(path, body, nil)
	var ae struct {
		Error struct {
			Code    string          `json:"code"`
			Message string          `json:"message"`
			Details json.RawMessage `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &ae)
	if got != want || ae.Error.Code != code || ae.Error.Message == "" {
		e.t.Fatalf("POST %s: %d %s, want %d %s", path, got, raw, want, code)
	}
	if after := e.get(runID); after.state() != before.state() {
		e.t.Fatalf("refused %s changed the run:\nbefore %s\nafter  %s", path, before.state(), after.state())
	}
}

func (e *ctlEnv) get(id string) ctlRun {
	e.t.Helper()
	var r ctlRun
	if code := call(e.t, e.s.url(), "GET", "/api/v1/runs/"+id, nil, &r); code != 200 {
		e.t.Fatalf("GET run %s: %d", id, code)
	}
	return r
}

// waitFor polls the run until cond holds.
func (e *ctlEnv) waitFor(id, what string, within time.Duration, cond func(ctlRun) bool) ctlRun {
	e.t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := e.get(id)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("run %s: %s not reached within %s; state %s", id, what, within, r.state())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (e *ctlEnv) waitStatus(id, want string) ctlRun {
	e.t.Helper()
	return e.waitFor(id, "status "+want, 60*time.Second, func(r ctlRun) bool { return r.Status == want })
}

// waitNode waits until the node has status st.
func (e *ctlEnv) waitNode(id, node, st string) ctlRun {
	e.t.Helper()
	return e.waitFor(id, node+" "+st, 60*time.Second, func(r ctlRun) bool { return r.node(node).Status == st })
}

// waitInstance waits until the node's latest instance has status st.
func (e *ctlEnv) waitInstance(id, node, st string) ctlRun {
	e.t.Helper()
	return e.waitFor(id, node+" instance "+st, 60*time.Second, func(r ctlRun) bool {
		in := r.node(node).Instances
		return len(in) > 0 && in[len(in)-1].Status == st
	})
}

func (e *ctlEnv) wantNodes(r ctlRun, want map[string]string) {
	e.t.Helper()
	for id, st := range want {
		if got := r.node(id).Status; got != st {
			e.t.Errorf("node %s is %s, want %s (%s)", id, got, st, r.state())
		}
	}
}

func (e *ctlEnv) wantInstances(r ctlRun, node string, want ...string) {
	e.t.Helper()
	if got := r.instStatuses(node); !slices.Equal(got, want) {
		e.t.Errorf("instances of %s: %v, want %v", node, got, want)
	}
}

func (e *ctlEnv) lines(name string) []string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, name))
	if err != nil && !os.IsNotExist(err) {
		e.t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// checkTransitions checks that the run's and each node's transitions chain
// (each starts where the previous ended) and that every step is one the
// state machine allows.
func checkTransitions(t *testing.T, r ctlRun) {
	t.Helper()
	last := map[string]string{}
	for _, tr := range r.Transitions {
		var ok bool
		switch tr.Entity {
		case "run":
			ok = status.RunMayBecome(status.Run(tr.From), status.Run(tr.To)) || tr.From == ""
		case "node":
			ok = status.NodeMayBecome(status.Node(tr.From), status.Node(tr.To)) || tr.From == ""
		default:
			continue
		}
		key := tr.Entity + "/" + tr.EntityID
		if prev, seen := last[key]; seen && prev != tr.From {
			t.Errorf("%s %s: transition %s→%s does not follow %s", tr.Entity, tr.EntityID, tr.From, tr.To, prev)
		}
		if !ok {
			t.Errorf("%s %s: transition %s→%s is outside the state machine", tr.Entity, tr.EntityID, tr.From, tr.To)
		}
		last[key] = tr.To
	}
	if got := last["run/"+r.ID]; got != r.Status {
		t.Errorf("the run's last transition ends in %q, the run is %q", got, r.Status)
	}
	for _, n := range r.Nodes {
		if got, ok := last["node/"+n.ID]; ok && got != n.Status {
			t.Errorf("node %s: last transition ends in %q, the node is %q", n.ID, got, n.Status)
		}
	}
}

// failOnce fails the first time it runs in a run's dir and succeeds after.
func failOnce(mark string) string {
	return `test -f "$BATON_PARAM_DIR/` + mark + `" || { touch "$BATON_PARAM_DIR/` + mark + `"; echo first attempt fails >&2; exit 1; }`
}

const logOrder = `echo "$BATON_NODE_ID" >> "$BATON_PARAM_DIR/order"`

// awaitRelease runs until the test calls release, so an operation lands
// while it runs however slow the machine is.
const awaitRelease = `while [ ! -f "$BATON_PARAM_DIR/release" ]; do sleep 0.1; done`

func (e *ctlEnv) release() {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, "release"), nil, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// runScenarios runs each scenario as a parallel subtest on one stack.
func runScenarios(t *testing.T, s *stack, scenarios map[string]func(e *ctlEnv)) {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			scenarios[name](newCtlEnv(t, s))
		})
	}
}

func TestControlRunOperations(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	runScenarios(t, s, map[string]func(e *ctlEnv){
		"stop run":             opStopRun,
		"stop node":            opStopNode,
		"stop handled node":    opStopHandledNode,
		"pause resume run":     opPauseResumeRun,
		"pause resume node":    opPauseResumeNode,
		"retry failed run":     opRetryFailedRun,
		"skip":                 opSkip,
		"rerun":                opRerun,
		"rerun downstream":     opRerunDownstream,
		"instance ops":         opInstanceOps,
		"rerun from succeeded": opRerunFromSucceeded,
		"rollback":             opRollback,
		"rollback failed":      opRollbackFailed,
		"batch stop retry":     opBatch,
	})
}

// The node retry and rerun-from-node on both mirrors.
func TestControlRetryAndRerunFromOnEachDatabase(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := newStack(t, dsn)
		runScenarios(t, s, map[string]func(e *ctlEnv){
			"retry node":        opRetryNode,
			"rerun from failed": opRerunFromFailed,
			"idempotent retry":  opIdempotentRetry,
		})
	})
}

func TestControlRaces(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	runScenarios(t, s, map[string]func(e *ctlEnv){
		"pause and stop together":            racePauseAndStop,
		"stop while retry dispatches":        raceStopWhileRetryDispatches,
		"skip of a node that just succeeded": raceSkipJustSucceeded,
		"same op twice without a key":        raceTwiceWithoutKey,
	})
}

type ctlAnswer struct {
	Applied bool `json:"applied"`
	DryRun  bool `json:"dry_run"`
	Plan    struct {
		Nodes     []string `json:"nodes"`
		Instances []string `json:"instances"`
	} `json:"plan"`
	Nodes         []string `json:"nodes"` // rerun-from
	TemporalRunID string   `json:"temporal_run_id"`
}

func (e *ctlEnv) answer(raw []byte) ctlAnswer {
	e.t.Helper()
	var a ctlAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		e.t.Fatalf("decode %s: %v", raw, err)
	}
	return a
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// noDispatchFor checks that node gets no instance for a while: the one
// place these tests must watch for something not happening.
func (e *ctlEnv) noDispatchFor(id, node, status string, d time.Duration) {
	e.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if n := e.get(id).node(node); len(n.Instances) > 0 || n.Status != status {
			e.t.Fatalf("node %s was dispatched (%s, %d instances), want it held %s", node, n.Status, len(n.Instances), status)
		}
	}
}

func runPath(id, op string) string { return "/api/v1/runs/" + id + "/" + op }

func nodePath(id, node, op string) string { return "/api/v1/runs/" + id + "/nodes/" + node + "/" + op }

// opStopRun: running instances end stopped, nothing new starts, the run is
// stopped; a second stop is refused.
func opStopRun(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", "sleep 30", ""), ctlNodeSpec("b", "sleep 30", ""), ctlNodeSpec("c", logOrder, ""),
	}, ctlEdges("a>c"), nil)
	e.waitNode(id, "a", "running")
	e.waitNode(id, "b", "running")
	ans := e.answer(e.op(runPath(id, "stop"), map[string]any{"reason": "maintenance"}))
	// The plan is the running work; c never started and stays waiting.
	if !ans.Applied || !slices.Equal(sorted(ans.Plan.Nodes), []string{"a", "b"}) {
		e.t.Errorf("stop answer %+v", ans)
	}
	r := e.waitStatus(id, "stopped")
	e.wantNodes(r, map[string]string{"a": "stopped", "b": "stopped"})
	e.wantInstances(r, "a", "stopped")
	e.wantInstances(r, "b", "stopped")
	if len(r.node("c").Instances) != 0 || len(e.lines("order")) != 0 {
		e.t.Errorf("c was dispatched after the stop: %s", r.state())
	}
	byOperator := false
	for _, tr := range r.Transitions {
		if tr.Entity == "run" && tr.Actor == "admin" && tr.Reason == "maintenance" {
			byOperator = true
		}
	}
	if !byOperator {
		e.t.Errorf("no run transition by the operator with the reason: %+v", r.Transitions)
	}
	checkTransitions(e.t, r)
	e.refused(id, 409, "run_not_operable", runPath(id, "stop"), nil)
}

// opStopNode: the node is stopped, its downstream skipped, the run fails;
// stopping a finished node is refused.
func opStopNode(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", "sleep 30", ""), ctlNodeSpec("b", logOrder, ""), ctlNodeSpec("c", "true", ""),
	}, ctlEdges("a>b"), nil)
	e.waitNode(id, "a", "running")
	e.waitInstance(id, "c", "success")
	e.refused(id, 409, "node_not_eligible", nodePath(id, "c", "stop"), nil)
	e.op(nodePath(id, "a", "stop"), nil)
	r := e.waitStatus(id, "failed")
	e.wantNodes(r, map[string]string{"a": "stopped", "b": "skipped", "c": "success"})
	e.wantInstances(r, "a", "stopped")
	e.wantInstances(r, "b")
	checkTransitions(e.t, r)
}

// opStopHandledNode: a stop handled by a failure edge does not fail the run.
func opStopHandledNode(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", "sleep 30", ""), ctlNodeSpec("h", logOrder, "")},
		ctlEdges("a>h:failure"), nil)
	e.waitNode(id, "a", "running")
	e.op(nodePath(id, "a", "stop"), nil)
	r := e.waitStatus(id, "success")
	e.wantNodes(r, map[string]string{"a": "stopped", "h": "success"})
	e.refused(id, 409, "run_closed", nodePath(id, "h", "stop"), nil)
}

// opPauseResumeRun: no dispatch while paused, the running instance
// finishes; resume continues.
func opPauseResumeRun(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", awaitRelease, ""), ctlNodeSpec("b", logOrder, "")}, ctlEdges("a>b"), nil)
	e.waitNode(id, "a", "running")
	e.refused(id, 409, "run_not_operable", runPath(id, "resume"), nil)
	e.op(runPath(id, "pause"), nil)
	if r := e.get(id); r.Status != "paused" {
		e.t.Fatalf("after pause the run is %s", r.Status)
	}
	var live struct {
		Status string `json:"status"`
		Live   bool   `json:"live"`
	}
	if code := call(e.t, e.s.url(), "GET", "/api/v1/runs/"+id+"?live=true", nil, &live); code != 200 || !live.Live || live.Status != "paused" {
		e.t.Errorf("live view: %d %+v", code, live)
	}
	e.release()
	e.waitInstance(id, "a", "success")
	e.noDispatchFor(id, "b", "waiting", 1500*time.Millisecond)
	if r := e.get(id); r.Status != "paused" {
		e.t.Fatalf("a paused run became %s", r.Status)
	}
	e.refused(id, 409, "run_not_operable", runPath(id, "pause"), nil)
	e.op(runPath(id, "resume"), nil)
	r := e.waitStatus(id, "success")
	e.wantInstances(r, "b", "success")
	checkTransitions(e.t, r)
	e.refused(id, 409, "run_closed", runPath(id, "pause"), nil)
}

// opPauseResumeNode: a paused node is held in this run; resume releases it.
func opPauseResumeNode(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", awaitRelease, ""), ctlNodeSpec("b", logOrder, "")}, ctlEdges("a>b"), nil)
	e.waitNode(id, "a", "running")
	e.refused(id, 409, "node_not_eligible", nodePath(id, "a", "pause"), nil)
	e.refused(id, 409, "node_not_eligible", nodePath(id, "a", "resume"), nil)
	e.op(nodePath(id, "b", "pause"), nil)
	e.release()
	e.waitInstance(id, "a", "success")
	e.noDispatchFor(id, "b", "paused", 1500*time.Millisecond)
	if r := e.get(id); r.Status != "running" {
		e.t.Fatalf("a run with a paused node is %s, want running", r.Status)
	}
	e.refused(id, 409, "node_not_eligible", nodePath(id, "b", "pause"), nil)
	e.op(nodePath(id, "b", "resume"), nil)
	r := e.waitStatus(id, "success")
	e.wantInstances(r, "b", "success")
	checkTransitions(e.t, r)
}

// opRetryNode: the failed node runs again, its skipped downstream runs, the
// run succeeds; nodes that succeeded are not touched.
func opRetryNode(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", failOnce("a"), ""), ctlNodeSpec("b", logOrder, ""), ctlNodeSpec("c", "true", ""),
	}, ctlEdges("a>b"), nil)
	r := e.waitStatus(id, "failed")
	e.wantNodes(r, map[string]string{"a": "failed", "b": "skipped", "c": "success"})
	e.refused(id, 409, "node_not_eligible", nodePath(id, "b", "skip"), nil)
	ans := e.answer(e.op(nodePath(id, "a", "retry"), nil))
	if !slices.Equal(ans.Plan.Nodes, []string{"a"}) {
		e.t.Errorf("retry plan %v", ans.Plan.Nodes)
	}
	r = e.waitStatus(id, "success")
	e.wantNodes(r, map[string]string{"a": "success", "b": "success", "c": "success"})
	e.wantInstances(r, "a", "failed", "success")
	e.wantInstances(r, "b", "success")
	e.wantInstances(r, "c", "success")
	if in := r.node("a").Instances; len(in) == 2 && in[1].Attempt != 2 {
		e.t.Errorf("retried instance is attempt %d, want 2", in[1].Attempt)
	}
	for _, n := range r.Nodes {
		if n.FinishedAt == nil {
			e.t.Errorf("node %s finished without a finish time", n.ID)
		}
	}
	checkTransitions(e.t, r)
	e.refused(id, 409, "run_closed", nodePath(id, "a", "retry"), nil)
}

// opRetryFailedRun retries every failed node and continues downstream.
func opRetryFailedRun(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", failOnce("a"), ""), ctlNodeSpec("b", logOrder, ""), ctlNodeSpec("c", failOnce("c"), ""),
	}, ctlEdges("a>b"), nil)
	e.waitStatus(id, "failed")
	before := e.get(id).state()
	code, raw := e.post(runPath(id, "retry")+"?dry_run=true", nil, nil)
	if a := e.answer(raw); code != 200 || !a.DryRun || !slices.Equal(sorted(a.Plan.Nodes), []string{"a", "c"}) {
		e.t.Fatalf("dry run: %d %s", code, raw)
	}
	if after := e.get(id).state(); after != before {
		e.t.Fatalf("dry run changed the run: %s", after)
	}
	ans := e.answer(e.op(runPath(id, "retry"), nil))
	if !slices.Equal(sorted(ans.Plan.Nodes), []string{"a", "c"}) {
		e.t.Errorf("retry plan %v", ans.Plan.Nodes)
	}
	r := e.waitStatus(id, "success")
	e.wantInstances(r, "a", "failed", "success")
	e.wantInstances(r, "c", "failed", "success")
	e.wantInstances(r, "b", "success")
	checkTransitions(e.t, r)
	e.refused(id, 409, "run_closed", runPath(id, "retry"), nil)
}

// opSkip sets a failed node successful (forced) without running it; its
// downstream continues.
func opSkip(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", "exit 1", ""), ctlNodeSpec("b", logOrder, "")}, ctlEdges("a>b"), nil)
	e.waitStatus(id, "failed")
	e.refused(id, 409, "node_not_eligible", nodePath(id, "b", "skip"), nil)
	e.op(nodePath(id, "a", "skip"), map[string]any{"reason": "fixed by hand"})
	r := e.waitStatus(id, "success")
	if a := r.node("a"); a.Status != "success" || !a.Forced {
		e.t.Errorf("skipped node %+v, want success forced", a)
	}
	e.wantInstances(r, "a", "failed")
	e.wantInstances(r, "b", "success")
	checkTransitions(e.t, r)
	e.refused(id, 409, "run_closed", nodePath(id, "a", "skip"), nil)
}

// opRerun starts a new run with trigger rerun, the parent set and the
// params overridden; a run that has not finished is not rerun.
func opRerun(e *ctlEnv) {
	script := `echo "$BATON_PARAM_X" > "$BATON_PARAM_DIR/x.$BATON_RUN_ID"; sleep "$BATON_PARAM_NAP"`
	id := e.start([]map[string]any{ctlNodeSpec("a", script, "")}, ctlEdges(), map[string]string{"x": "one", "nap": "20"})
	e.waitNode(id, "a", "running")
	e.refused(id, 409, "run_not_operable", runPath(id, "rerun"), nil)
	e.op(runPath(id, "stop"), nil)
	parent := e.waitStatus(id, "stopped")
	code, raw := e.post(runPath(id, "rerun"), map[string]any{"params": map[string]string{"x": "two", "nap": "0"}}, nil)
	if code != 201 {
		e.t.Fatalf("rerun: %d %s", code, raw)
	}
	var child ctlRun
	if err := json.Unmarshal(raw, &child); err != nil {
		e.t.Fatal(err)
	}
	if child.ID == id || child.Trigger != "rerun" || child.ParentRunID != id || child.Version != parent.Version ||
		child.Params["x"] != "two" || child.Params["dir"] != e.dir {
		e.t.Fatalf("rerun %+v", child)
	}
	done := e.waitStatus(child.ID, "success")
	e.wantInstances(done, "a", "success")
	if got := e.lines("x." + child.ID); !slices.Equal(got, []string{"two"}) {
		e.t.Errorf("the rerun saw BATON_PARAM_X=%v, want two", got)
	}
	if got := e.lines("x." + id); !slices.Equal(got, []string{"one"}) {
		e.t.Errorf("the parent saw BATON_PARAM_X=%v, want one", got)
	}
	if after := e.get(id); after.state() != parent.state() {
		e.t.Errorf("the parent changed: %s", after.state())
	}
}

// opRerunDownstream re-executes the chosen nodes in dependency order and
// nothing else.
func opRerunDownstream(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", logOrder, ""), ctlNodeSpec("b", logOrder, ""), ctlNodeSpec("c", logOrder, ""),
		ctlNodeSpec("d", logOrder, ""), ctlNodeSpec("e", "exit 1", ""),
	}, ctlEdges("a>b", "b>c", "a>d"), nil)
	e.waitStatus(id, "failed")
	first := e.lines("order")
	if len(first) != 4 {
		e.t.Fatalf("first pass ran %v", first)
	}
	e.refused(id, 404, "unknown_node", runPath(id, "rerun-downstream"), map[string]any{"nodes": []string{"c", "zz"}})
	code, raw := e.post(runPath(id, "rerun-downstream")+"?dry_run=true", map[string]any{"nodes": []string{"c", "b"}}, nil)
	if a := e.answer(raw); code != 200 || !slices.Equal(a.Plan.Nodes, []string{"b", "c"}) {
		e.t.Fatalf("dry run: %d %s", code, raw)
	}
	ans := e.answer(e.op(runPath(id, "rerun-downstream"), map[string]any{"nodes": []string{"c", "b"}}))
	if !slices.Equal(ans.Plan.Nodes, []string{"b", "c"}) {
		e.t.Errorf("plan %v, want b then c", ans.Plan.Nodes)
	}
	r := e.waitFor(id, "c re-executed and the run settled", 60*time.Second, func(r ctlRun) bool {
		return r.Status == "failed" && len(r.node("c").Instances) == 2 && r.node("c").Status == "success"
	})
	if got := e.lines("order"); !slices.Equal(got[len(first):], []string{"b", "c"}) {
		e.t.Errorf("order %v: want b then c appended to %v", got, first)
	}
	e.wantInstances(r, "a", "success")
	e.wantInstances(r, "d", "success")
	e.wantInstances(r, "b", "success", "success")
	e.wantInstances(r, "c", "success", "success")
	e.wantInstances(r, "e", "failed")
	checkTransitions(e.t, r)
}

// opInstanceOps stops one instance and reruns another on its worker.
func opInstanceOps(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", "sleep 30", ""), ctlNodeSpec("b", failOnce("b"), ""), ctlNodeSpec("c", logOrder, ""),
	}, ctlEdges("b>c"), nil)
	e.waitNode(id, "a", "running")
	r := e.waitFor(id, "b failed", 60*time.Second, func(r ctlRun) bool { return r.node("b").Status == "failed" })
	a, b := r.node("a").Instances[0].ID, r.node("b").Instances[0].ID
	e.refused(id, 409, "node_not_eligible", "/api/v1/instances/"+b+"/stop", nil)
	e.refused(id, 409, "node_not_eligible", runPath(id, "rerun-downstream"), map[string]any{"nodes": []string{"c", "a"}})
	e.refused(id, 404, "unknown_instance", "/api/v1/instances/"+id+".zz.0.1/rerun", nil)
	ans := e.answer(e.op("/api/v1/instances/"+a+"/stop", nil))
	if !slices.Equal(ans.Plan.Instances, []string{a}) {
		e.t.Errorf("stop plan %+v", ans.Plan)
	}
	e.op("/api/v1/instances/"+b+"/rerun", nil)
	r = e.waitFor(id, "b rerun and the run settled", 60*time.Second, func(r ctlRun) bool {
		return r.Status == "failed" && r.node("c").Status == "success"
	})
	e.wantNodes(r, map[string]string{"a": "stopped", "b": "success", "c": "success"})
	e.wantInstances(r, "a", "stopped")
	e.wantInstances(r, "b", "failed", "success")
	if in := r.node("b").Instances; len(in) == 2 && (in[1].WorkerID != in[0].WorkerID || in[1].Attempt != 2) {
		e.t.Errorf("rerun instance %+v, want attempt 2 on %s", in[1], in[0].WorkerID)
	}
	checkTransitions(e.t, r)
}

// chain is a→b→c→d→e→f, each logging its name; d fails the first time.
func chain(e *ctlEnv) string {
	var nodes []map[string]any
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		script := logOrder
		if n == "d" {
			script = failOnce("d") + "; " + logOrder
		}
		nodes = append(nodes, ctlNodeSpec(n, script, ""))
	}
	return e.start(nodes, ctlEdges("a>b", "b>c", "c>d", "d>e", "e>f"), nil)
}

// opRerunFromFailed resets a failed run to where d was first dispatched:
// a, b and c keep their results, d, e and f run, the run succeeds.
func opRerunFromFailed(e *ctlEnv) {
	id := chain(e)
	r := e.waitStatus(id, "failed")
	e.wantNodes(r, map[string]string{"c": "success", "d": "failed", "e": "skipped", "f": "skipped"})
	e.refused(id, 409, "node_never_dispatched", nodePath(id, "e", "rerun-from"), nil)
	code, raw := e.post(nodePath(id, "d", "rerun-from")+"?dry_run=true", nil, nil)
	if a := e.answer(raw); code != 200 || !a.DryRun || !slices.Contains(a.Nodes, "d") || slices.Contains(a.Nodes, "c") {
		e.t.Fatalf("dry run: %d %s", code, raw)
	}
	ans := e.answer(e.op(nodePath(id, "d", "rerun-from"), map[string]any{"reason": "input fixed"}))
	if !ans.Applied || ans.TemporalRunID == "" || !slices.Contains(ans.Nodes, "d") {
		e.t.Fatalf("rerun-from %+v", ans)
	}
	r = e.waitStatus(id, "success")
	for _, n := range []string{"a", "b", "c"} {
		e.wantInstances(r, n, "success")
	}
	e.wantInstances(r, "d", "failed", "success")
	e.wantInstances(r, "e", "success")
	e.wantInstances(r, "f", "success")
	if got := e.lines("order"); !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) {
		e.t.Errorf("order %v", got)
	}
	if len(r.Executions) != 2 || r.Executions[0].Reason != "start" || r.Executions[1].Reason != "rerun-from" ||
		r.Executions[1].Node != "d" || r.Executions[1].TemporalRunID != ans.TemporalRunID {
		e.t.Errorf("executions %+v", r.Executions)
	}
}

// opRerunFromSucceeded resets a run that closed with success.
func opRerunFromSucceeded(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", logOrder, ""), ctlNodeSpec("b", logOrder, ""), ctlNodeSpec("c", logOrder, "")},
		ctlEdges("a>b", "b>c"), nil)
	e.waitStatus(id, "success")
	e.refused(id, 404, "unknown_node", nodePath(id, "zz", "rerun-from"), nil)
	e.op(nodePath(id, "b", "rerun-from"), nil)
	r := e.waitFor(id, "b and c re-executed", 60*time.Second, func(r ctlRun) bool {
		return r.Status == "success" && len(r.node("c").Instances) == 2 && r.node("c").Status == "success"
	})
	e.wantInstances(r, "a", "success")
	e.wantInstances(r, "b", "success", "success")
	if got := e.lines("order"); !slices.Equal(got, []string{"a", "b", "c", "b", "c"}) {
		e.t.Errorf("order %v", got)
	}
	if len(r.Executions) != 2 {
		e.t.Errorf("executions %+v", r.Executions)
	}
	// From the root, dispatched in the run's first workflow task.
	e.op(nodePath(id, "a", "rerun-from"), nil)
	r = e.waitFor(id, "everything re-executed", 60*time.Second, func(r ctlRun) bool {
		return r.Status == "success" && len(r.node("c").Instances) == 3 && r.node("c").Status == "success"
	})
	e.wantInstances(r, "a", "success", "success")
	if got := e.lines("order"); !slices.Equal(got, []string{"a", "b", "c", "b", "c", "a", "b", "c"}) {
		e.t.Errorf("order %v", got)
	}
	if len(r.Executions) != 3 {
		e.t.Errorf("executions %+v", r.Executions)
	}
}

const logRollback = `echo "$BATON_NODE_ID" >> "$BATON_PARAM_DIR/rollback"`

// opRollback compensates each executed node in reverse topological order.
func opRollback(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", "true", logRollback), ctlNodeSpec("b", "true", logRollback), ctlNodeSpec("c", "true", logRollback),
		ctlNodeSpec("d", "exit 1", ""),
	}, ctlEdges("a>b", "b>c", "c>d"), nil)
	e.waitStatus(id, "failed")
	code, raw := e.post(runPath(id, "rollback")+"?dry_run=true", nil, nil)
	if a := e.answer(raw); code != 200 || !slices.Equal(a.Plan.Nodes, []string{"c", "b", "a"}) {
		e.t.Fatalf("dry run: %d %s", code, raw)
	}
	ans := e.answer(e.op(runPath(id, "rollback"), nil))
	if !slices.Equal(ans.Plan.Nodes, []string{"c", "b", "a"}) {
		e.t.Errorf("plan %v", ans.Plan.Nodes)
	}
	r := e.waitStatus(id, "rolled_back")
	if got := e.lines("rollback"); !slices.Equal(got, []string{"c", "b", "a"}) {
		e.t.Errorf("compensations ran as %v, want c b a", got)
	}
	e.wantNodes(r, map[string]string{"a": "rolled_back", "b": "rolled_back", "c": "rolled_back", "d": "failed"})
	e.refused(id, 409, "run_closed", runPath(id, "rollback"), nil)
}

// opRollbackFailed stops at the compensation that fails; abandon ends the
// run for good.
func opRollbackFailed(e *ctlEnv) {
	id := e.start([]map[string]any{
		ctlNodeSpec("a", "true", logRollback), ctlNodeSpec("b", "true", logRollback+"; exit 1"), ctlNodeSpec("c", "true", logRollback),
		ctlNodeSpec("d", "exit 1", ""),
	}, ctlEdges("a>b", "b>c", "c>d"), nil)
	e.waitStatus(id, "failed")
	e.op(runPath(id, "rollback"), nil)
	r := e.waitStatus(id, "rollback_failed")
	if got := e.lines("rollback"); !slices.Equal(got, []string{"c", "b"}) {
		e.t.Errorf("compensations ran as %v, want c b (and stop at b)", got)
	}
	e.wantNodes(r, map[string]string{"a": "success", "b": "success", "c": "rolled_back"})
	e.refused(id, 409, "run_not_operable", runPath(id, "rollback"), nil)
	e.op(runPath(id, "abandon"), map[string]any{"reason": "compensated by hand"})
	r = e.waitStatus(id, "abandoned")
	e.refused(id, 409, "run_closed", runPath(id, "retry"), nil)
	e.refused(id, 409, "run_closed", runPath(id, "abandon"), nil)
	e.refused(id, 409, "run_closed", nodePath(id, "a", "retry"), nil)
	checkTransitions(e.t, r)
}

// opIdempotentRetry: the same retry twice at once with one key has one
// effect and one answer.
func opIdempotentRetry(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", failOnce("a")+"; sleep 1", ""), ctlNodeSpec("b", logOrder, "")},
		ctlEdges("a>b"), nil)
	e.waitStatus(id, "failed")
	key := map[string]string{"Idempotency-Key": "retry-" + id[:8]}
	type answer struct {
		code   int
		raw    []byte
		replay string
	}
	answers := make(chan answer, 2)
	for range 2 {
		go func() {
			code, raw, h := e.send(nodePath(id, "a", "retry"), nil, key)
			answers <- answer{code, raw, h.Get("Idempotent-Replay")}
		}()
	}
	x, y := <-answers, <-answers
	if x.code != 200 || y.code != 200 || !bytes.Equal(x.raw, y.raw) || x.replay+y.replay != "true" {
		e.t.Fatalf("answers %d %q / %d %q, replay %q %q", x.code, x.raw, y.code, y.raw, x.replay, y.replay)
	}
	code, raw, h := e.send(nodePath(id, "a", "retry"), nil, key)
	if code != 200 || !bytes.Equal(raw, x.raw) || h.Get("Idempotent-Replay") != "true" {
		e.t.Fatalf("later repeat: %d %s", code, raw)
	}
	r := e.waitStatus(id, "success")
	e.wantInstances(r, "a", "failed", "success")
	e.wantInstances(r, "b", "success")
	checkTransitions(e.t, r)
}

// racePauseAndStop: whichever lands first, the run ends stopped.
func racePauseAndStop(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", "sleep 20", ""), ctlNodeSpec("b", logOrder, "")}, ctlEdges("a>b"), nil)
	e.waitNode(id, "a", "running")
	codes := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, op := range []string{"pause", "stop"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, raw := e.post(runPath(id, op), nil, nil)
			if code != 200 && code != 409 {
				e.t.Errorf("%s: %d %s", op, code, raw)
			}
			mu.Lock()
			codes[op] = code
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes["stop"] != 200 {
		e.t.Errorf("stop answered %d: it is allowed whether the run is running or paused", codes["stop"])
	}
	r := e.waitStatus(id, "stopped")
	e.wantInstances(r, "a", "stopped")
	e.wantInstances(r, "b")
	checkTransitions(e.t, r)
}

// raceStopWhileRetryDispatches: a stop right behind a retry stops the new
// instance, scheduled or started, and the run ends stopped.
func raceStopWhileRetryDispatches(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", failOnce("a")+"; sleep 20", ""), ctlNodeSpec("b", logOrder, "")},
		ctlEdges("a>b"), nil)
	e.waitStatus(id, "failed")
	e.op(nodePath(id, "a", "retry"), nil)
	e.op(runPath(id, "stop"), nil)
	r := e.waitStatus(id, "stopped")
	e.wantInstances(r, "a", "failed", "stopped")
	e.wantInstances(r, "b")
	checkTransitions(e.t, r)
}

// raceSkipJustSucceeded: skip is refused while the node runs and after it
// succeeded, however close to its end.
func raceSkipJustSucceeded(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", "sleep 1", ""), ctlNodeSpec("c", "sleep 20", "")}, ctlEdges(), nil)
	e.waitNode(id, "a", "running")
	deadline := time.Now().Add(30 * time.Second)
	for e.get(id).node("a").Status != "success" {
		if time.Now().After(deadline) {
			e.t.Fatal("a never succeeded")
		}
		if code, raw := e.post(nodePath(id, "a", "skip"), nil, nil); code != 409 {
			e.t.Fatalf("skip of a running node: %d %s", code, raw)
		}
	}
	e.refused(id, 409, "node_not_eligible", nodePath(id, "a", "skip"), nil)
	r := e.get(id)
	if a := r.node("a"); a.Forced || len(a.Instances) != 1 {
		e.t.Errorf("a after refused skips: %+v", a)
	}
	e.op(runPath(id, "stop"), nil)
	r = e.waitStatus(id, "stopped")
	e.wantNodes(r, map[string]string{"a": "success", "c": "stopped"})
	checkTransitions(e.t, r)
}

// raceTwiceWithoutKey: the second retry is judged on its own and refused
// while the first one's instance runs.
func raceTwiceWithoutKey(e *ctlEnv) {
	id := e.start([]map[string]any{ctlNodeSpec("a", failOnce("a")+"; sleep 2", "")}, ctlEdges(), nil)
	e.waitStatus(id, "failed")
	e.op(nodePath(id, "a", "retry"), nil)
	code, raw := e.post(nodePath(id, "a", "retry"), nil, nil)
	refusedAsExpected := bytes.Contains(raw, []byte("node_not_eligible")) || bytes.Contains(raw, []byte("run_closed"))
	if code != 409 || !refusedAsExpected {
		e.t.Fatalf("second retry: %d %s", code, raw)
	}
	r := e.waitStatus(id, "success")
	e.wantInstances(r, "a", "failed", "success")
	checkTransitions(e.t, r)
}

// The transition log names the request that caused each change
// (docs/operations.md: time, from, to, actor, reason, request id).
func TestControlTransitionsCarryTheRequestID(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	e := newCtlEnv(t, s)
	id := e.start([]map[string]any{ctlNodeSpec("a", "exit 1", "")}, ctlEdges(), nil)
	e.waitStatus(id, "failed")
	key := "skip-" + id[:8]
	if code, raw, _ := e.send(nodePath(id, "a", "skip"), map[string]any{"reason": "known issue"}, map[string]string{"Idempotency-Key": key}); code != 200 {
		t.Fatalf("skip: %d %s", code, raw)
	}
	r := e.waitStatus(id, "success")
	for _, tr := range r.Transitions {
		if tr.Entity == "node" && tr.EntityID == "a" && tr.To == "success" {
			if tr.Actor != "admin" || tr.Reason != "known issue" || tr.RequestID != key {
				t.Errorf("transition of the skip: %+v, want actor admin, reason and request id %q", tr, key)
			}
			return
		}
	}
	t.Fatalf("no transition of a to success: %+v", r.Transitions)
}

// A running instance shows as running in the mirror, not only its node.
func TestControlInstanceIsMarkedRunning(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	e := newCtlEnv(t, s)
	id := e.start([]map[string]any{ctlNodeSpec("a", "sleep 20", "")}, ctlEdges(), nil)
	e.waitNode(id, "a", "running")
	r := e.waitFor(id, "a's instance running", 5*time.Second, func(r ctlRun) bool {
		in := r.node("a").Instances
		return len(in) == 1 && in[0].Status == "running"
	})
	e.op(runPath(id, "stop"), nil)
	e.waitStatus(r.ID, "stopped")
}

// opBatch stops and retries several runs in one call, each judged on its own.
func opBatch(e *ctlEnv) {
	long := e.start([]map[string]any{ctlNodeSpec("a", "sleep 20", "")}, ctlEdges(), nil)
	failing := e.start([]map[string]any{ctlNodeSpec("a", failOnce("batch"), "")}, ctlEdges(), nil)
	e.waitNode(long, "a", "running")
	e.waitStatus(failing, "failed")
	type results struct {
		Results []struct {
			ID     string `json:"id"`
			OK     bool   `json:"ok"`
			Status string `json:"status"`
			Error  *struct {
				Code string `json:"code"`
			} `json:"error"`
		} `json:"results"`
	}
	var got results
	raw := e.op("/api/v1/runs/batch/stop", map[string]any{"ids": []string{long, failing, "no-such-run"}})
	if err := json.Unmarshal(raw, &got); err != nil {
		e.t.Fatal(err)
	}
	if len(got.Results) != 3 || !got.Results[0].OK || got.Results[0].Status == "" ||
		got.Results[1].OK || got.Results[1].Error == nil || got.Results[1].Error.Code != "run_not_operable" ||
		got.Results[2].Error == nil || got.Results[2].Error.Code != "not_found" {
		e.t.Fatalf("batch stop %s", raw)
	}
	e.waitStatus(long, "stopped")
	if r := e.get(failing); r.Status != "failed" || len(r.node("a").Instances) != 1 {
		e.t.Fatalf("the refused run changed: %s", r.state())
	}
	raw = e.op("/api/v1/runs/batch/retry", map[string]any{"ids": []string{failing}})
	if err := json.Unmarshal(raw, &got); err != nil || len(got.Results) != 1 || !got.Results[0].OK {
		e.t.Fatalf("batch retry %s", raw)
	}
	r := e.waitStatus(failing, "success")
	e.wantInstances(r, "a", "failed", "success")
}

// After the operable window a failed run's workflow has ended: operations
// on it are refused as closed, while rerun-from-node and rerun still work.
func TestControlAfterTheOperableWindow(t *testing.T) {
	base := newStack(t, databases(t)["sqlite"])
	s := *base
	ts := httptest.NewServer(api.New(api.Options{Store: base.store, Engine: &engine.Engine{Client: base.client, Namespace: "default"},
		OperableWindow: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(ts.Close)
	s.api = ts
	e := newCtlEnv(t, &s)
	id := e.start([]map[string]any{ctlNodeSpec("a", logOrder, ""), ctlNodeSpec("b", failOnce("b")+"; "+logOrder, "")},
		ctlEdges("a>b"), nil)
	e.waitStatus(id, "failed")
	deadline := time.Now().Add(60 * time.Second)
	for {
		d, err := base.client.DescribeWorkflowExecution(context.Background(), "baton-run-"+id, "")
		if err != nil {
			t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the run's workflow is still %s after its window", d.GetWorkflowExecutionInfo().GetStatus())
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A dry run answers what the real call would: closed, not a plan.
	e.refused(id, 409, "run_closed", nodePath(id, "b", "retry")+"?dry_run=true", nil)
	e.refused(id, 409, "run_closed", runPath(id, "retry")+"?dry_run=true", nil)
	e.refused(id, 409, "run_closed", nodePath(id, "b", "retry"), nil)
	e.refused(id, 409, "run_closed", runPath(id, "abandon"), nil)
	e.op(nodePath(id, "b", "rerun-from"), nil)
	r := e.waitFor(id, "b re-executed", 60*time.Second, func(r ctlRun) bool {
		return r.Status == "success" && r.node("b").Status == "success"
	})
	e.wantInstances(r, "a", "success")
	e.wantInstances(r, "b", "failed", "success")
}
