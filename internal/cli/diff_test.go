package cli

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-sched/baton/internal/dag"
)

func shellNode(id, script string) dag.Node {
	return dag.Node{ID: id, Type: dag.NodeTask, Task: &dag.Task{Kind: "shell", Shell: &dag.ShellSpec{Script: script}}}
}

func TestDiffFlows(t *testing.T) {
	old := dag.Flow{Name: "f", Params: map[string]string{"region": "cn"},
		Nodes: []dag.Node{shellNode("a", "echo a"), shellNode("b", "echo b"), shellNode("c", "echo c")},
		Edges: []dag.Edge{{From: "a", To: "b"}, {From: "a", To: "c"}}}
	cur := dag.Flow{Name: "f", Params: map[string]string{"region": "us"},
		// Reordered b, changed a's script, removed c, added d.
		Nodes: []dag.Node{shellNode("b", "echo b"), shellNode("a", "echo A"), shellNode("d", "echo d")},
		Edges: []dag.Edge{{From: "a", To: "b", On: dag.OnFailure}, {From: "a", To: "d"}}}
	d := diffFlows(old, cur)
	want := Diff{
		Fields:       []string{"params.region"},
		NodesAdded:   []string{"d"},
		NodesRemoved: []string{"c"},
		NodesChanged: []NodeChange{{ID: "a", Fields: []string{"task.shell.script"}}},
		EdgesAdded:   []string{"a>d"},
		EdgesRemoved: []string{"a>c"},
		EdgesChanged: []EdgeChange{{Edge: "a>b", From: dag.OnSuccess, To: dag.OnFailure}},
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("diff\n got %+v\nwant %+v", d, want)
	}
	var b bytes.Buffer
	if err := writeDiff(&b, d); err != nil {
		t.Fatal(err)
	}
	wantText := `~ params.region
+ node d
- node c
~ node a: task.shell.script
+ edge a>d
- edge a>c
~ edge a>b: on success -> failure
`
	if b.String() != wantText {
		t.Errorf("diff text\n%s\nwant\n%s", b.String(), wantText)
	}
	if s := d.summary(); s != "1 nodes added, 1 nodes removed, 1 nodes changed, 1 edges added, 1 edges removed, 1 edges changed, 1 fields changed" {
		t.Errorf("summary %q", s)
	}
}

func TestDiffIgnoresOrderAndDefaults(t *testing.T) {
	a := dag.Flow{Name: "f", Nodes: []dag.Node{shellNode("a", "x"), shellNode("b", "y")},
		Edges: []dag.Edge{{From: "a", To: "b", On: dag.OnSuccess}}}
	b := dag.Flow{Name: "f", Nodes: []dag.Node{shellNode("b", "y"), shellNode("a", "x")},
		Edges: []dag.Edge{{From: "a", To: "b"}}} // "" is success
	if d := diffFlows(a, b); !d.Empty() {
		t.Errorf("reordering is no change: %+v", d)
	}
	var out bytes.Buffer
	_ = writeDiff(&out, diffFlows(a, b))
	if out.String() != "no changes\n" {
		t.Errorf("empty diff prints %q", out.String())
	}
}

func TestDiffTasksAndKinds(t *testing.T) {
	d := diffTasks(dag.Task{Kind: "shell", Shell: &dag.ShellSpec{Script: "a"}, Timeout: "1m"},
		dag.Task{Kind: "shell", Shell: &dag.ShellSpec{Script: "b"}, Retry: &dag.Retry{MaxAttempts: 3}})
	if want := []string{"retry", "shell.script", "timeout"}; !reflect.DeepEqual(d.Fields, want) {
		t.Errorf("task fields %v, want %v", d.Fields, want)
	}
	// A view of the API (with its meta fields) against a file: meta is no change.
	view := `{"id":"x","version":3,"enabled":true,"name":"f","nodes":[{"id":"a","type":"task","task":{"kind":"noop"}}],"edges":[]}`
	file := `{"name":"f","nodes":[{"id":"a","type":"task","task":{"kind":"noop"}}],"edges":[]}`
	fd, err := flowKind.diff([]byte(view), []byte(file))
	if err != nil || !fd.Empty() {
		t.Errorf("view vs identical file: %+v %v", fd, err)
	}
	// Nothing before: everything is added.
	fd, err = flowKind.diff(nil, []byte(file))
	if err != nil || !reflect.DeepEqual(fd.NodesAdded, []string{"a"}) {
		t.Errorf("create diff %+v %v", fd, err)
	}
	raw, _ := json.Marshal(fd)
	if strings.Contains(string(raw), "null") {
		t.Errorf("diff JSON has null lists: %s", raw)
	}
}
