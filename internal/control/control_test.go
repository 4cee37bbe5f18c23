package control

import (
	"slices"
	"testing"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

func graph(t *testing.T) *dag.Graph {
	t.Helper()
	task := func(id string, rollback bool) dag.Node {
		n := dag.Node{ID: id, Type: dag.NodeTask, Task: &dag.Task{Kind: dag.KindNoop}}
		if rollback {
			n.Task.Rollback = &dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: "undo"}}
		}
		return n
	}
	g, err := dag.NewGraph(&dag.Flow{Nodes: []dag.Node{task("a", true), task("b", true), task("c", false), {ID: "or", Type: dag.NodeOr}, task("d", true)},
		Edges: []dag.Edge{{From: "a", To: "b"}, {From: "b", To: "c"}, {From: "c", To: "or"}, {From: "or", To: "d"}}})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func view(run string, nodes ...NodeView) View { return View{Status: run, Nodes: nodes} }

func nv(id, st string, ran bool) NodeView { return NodeView{ID: id, Status: st, Ran: ran} }

func TestCheck(t *testing.T) {
	g := graph(t)
	failed := view("failed", nv("a", "success", true), nv("b", "failed", true), nv("c", "skipped", false),
		nv("or", "skipped", false), nv("d", "skipped", false))
	running := view("running", nv("a", "success", true), nv("b", "running", true), nv("c", "waiting", false),
		nv("or", "waiting", false), nv("d", "waiting", false))
	cases := []struct {
		name  string
		v     View
		req   Request
		code  string
		nodes []string
	}{
		{"retry a failed node", failed, Request{Op: status.OpNodeRetry, Nodes: []string{"b"}}, "", []string{"b"}},
		{"retry a never-run node", failed, Request{Op: status.OpNodeRetry, Nodes: []string{"c"}}, "", []string{"c"}},
		{"retry a running node is refused", running, Request{Op: status.OpNodeRetry, Nodes: []string{"b"}}, CodeNodeNotEligible, nil},
		{"skip a successful node is refused", failed, Request{Op: status.OpNodeSkip, Nodes: []string{"a"}}, CodeNodeNotEligible, nil},
		{"skip a failed node", failed, Request{Op: status.OpNodeSkip, Nodes: []string{"b"}}, "", []string{"b"}},
		{"logic nodes are not operable", failed, Request{Op: status.OpNodeRetry, Nodes: []string{"or"}}, CodeNodeNotEligible, nil},
		{"unknown node", failed, Request{Op: status.OpNodeRetry, Nodes: []string{"zz"}}, CodeUnknownNode, nil},
		{"rerun downstream in dependency order", failed, Request{Op: status.OpRerunDownstream, Nodes: []string{"c", "a", "b"}}, "", []string{"a", "b", "c"}},
		{"rerun downstream with a running node is refused", running, Request{Op: status.OpRerunDownstream, Nodes: []string{"a", "b"}}, CodeNodeNotEligible, nil},
		{"pause a running run", running, Request{Op: status.OpPause}, "", nil},
		{"pause a failed run is refused", failed, Request{Op: status.OpPause}, CodeRunNotOperable, nil},
		{"stop touches running work only", running, Request{Op: status.OpStop}, "", []string{"b"}},
		{"retry failed run", failed, Request{Op: status.OpRetryFailed}, "", []string{"b"}},
		{"rollback in reverse order, nodes with a spec that ran", failed, Request{Op: status.OpRollback}, "", []string{"b", "a"}},
		{"abandon a running run is refused", running, Request{Op: status.OpAbandon}, CodeRunNotOperable, nil},
		{"node ops on a closed run are refused", view("success", nv("a", "success", true)), Request{Op: status.OpNodeRetry, Nodes: []string{"a"}}, CodeRunNotOperable, nil},
		{"no nodes chosen", failed, Request{Op: status.OpNodeRetry}, CodeBadRequest, nil},
		{"unknown op", failed, Request{Op: "explode"}, CodeBadRequest, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, conflict := Check(g, c.v, c.req)
			if c.code != "" {
				if conflict == nil || conflict.Code != c.code {
					t.Fatalf("conflict %+v, want code %s", conflict, c.code)
				}
				return
			}
			if conflict != nil {
				t.Fatalf("refused: %v", conflict)
			}
			if !slices.Equal(plan.Nodes, c.nodes) {
				t.Fatalf("plan %v, want %v", plan.Nodes, c.nodes)
			}
		})
	}
}

func TestRefusalNamesEachOffendingNode(t *testing.T) {
	g := graph(t)
	v := view("running", nv("a", "running", true), nv("b", "waiting", false), nv("c", "dispatched", true),
		nv("or", "waiting", false), nv("d", "waiting", false))
	_, conflict := Check(g, v, Request{Op: status.OpRerunDownstream, Nodes: []string{"a", "b", "c"}})
	if conflict == nil || len(conflict.Offending) != 2 {
		t.Fatalf("%+v", conflict)
	}
	want := "the selection contains nodes not eligible to rerun-downstream: a (running), c (dispatched)"
	if got := conflict.Message; len(got) < len(want) || got[:len(want)] != want {
		t.Fatalf("message %q", got)
	}
}

func TestInstanceOps(t *testing.T) {
	g := graph(t)
	v := view("failed", NodeView{ID: "a", Status: "failed", Ran: true, Instances: []InstanceView{{ID: "r.a.0.1", Status: "failed"}}},
		NodeView{ID: "b", Status: "running", Ran: true, Instances: []InstanceView{{ID: "r.b.0.1", Status: "running"}}})
	if _, c := Check(g, v, Request{Op: status.OpInstanceRerun, Instance: "r.a.0.1"}); c != nil {
		t.Fatalf("rerun of a finished instance refused: %v", c)
	}
	if _, c := Check(g, v, Request{Op: status.OpInstanceRerun, Instance: "r.b.0.1"}); c == nil {
		t.Fatal("rerun of a running instance allowed")
	}
	if p, c := Check(g, v, Request{Op: status.OpInstanceStop, Instance: "r.b.0.1"}); c != nil || !slices.Equal(p.Instances, []string{"r.b.0.1"}) {
		t.Fatalf("stop instance: %v %v", p, c)
	}
	if _, c := Check(g, v, Request{Op: status.OpInstanceStop, Instance: "nope"}); c == nil || c.Code != CodeUnknownInstance {
		t.Fatalf("unknown instance: %v", c)
	}
}

// TestAllowedAgreesWithCheck walks every run status, node status, ran flag
// and last-instance status: an operation is in Allowed exactly when Check
// accepts it (rerun-from: when the reset's rule does).
func TestAllowedAgreesWithCheck(t *testing.T) {
	g := graph(t)
	nodeStatuses := []status.Node{status.NodeWaiting, status.NodePaused, status.NodeDispatched, status.NodeRunning,
		status.NodeSuccess, status.NodeFailed, status.NodeStopping, status.NodeStopped, status.NodeTimeout,
		status.NodeSkipped, status.NodeRolledBack}
	instStatuses := []string{"", "waiting", "running", "stopping", "success", "failed", "stopped", "timeout", "stop_failed"}
	seen := map[status.Op]bool{}
	for _, run := range status.Runs {
		for _, ns := range nodeStatuses {
			for _, ran := range []bool{false, true} {
				for _, is := range instStatuses {
					for _, id := range []string{"b", "or"} {
						n := NodeView{ID: id, Status: string(ns), Ran: ran}
						if is != "" {
							n.Instances = []InstanceView{{ID: "r." + id + ".0.1", Attempt: 1, Status: "success"}, {ID: "r." + id + ".0.2", Attempt: 2, Status: is}}
						}
						v := view(string(run), nv("a", "success", true), n)
						got := Allowed(g, run, n)
						for _, op := range append(slices.Clone(nodeMenuOps), status.OpRerunFrom, status.OpInstanceStop, status.OpInstanceRerun) {
							var want bool
							switch op {
							case status.OpRerunFrom:
								ok, _ := status.NodeOpAllowed(op, status.NodeState{Status: ns, Ran: ran})
								want = ok && id != "or"
							case status.OpInstanceStop, status.OpInstanceRerun:
								_, c := Check(g, v, Request{Op: op, Instance: "r." + id + ".0.2"})
								want = is != "" && c == nil && id != "or"
							default:
								_, c := Check(g, v, Request{Op: op, Nodes: []string{id}})
								want = c == nil
							}
							if slices.Contains(got, op) != want {
								t.Errorf("run %s, node %s %s ran=%v, last instance %q: %s allowed=%v, Check says %v", run, id, ns, ran, is, op, !want, want)
							}
							if want {
								seen[op] = true
							}
						}
					}
				}
			}
		}
	}
	if len(seen) != len(nodeMenuOps)+3 {
		t.Errorf("some operations are never allowed: %v", seen)
	}
}
