package dag

import (
	"slices"
	"testing"
)

func TestSubflow(t *testing.T) {
	f := Flow{Name: "f", Nodes: []Node{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}, {ID: "x"}},
		Edges: []Edge{{From: "a", To: "b"}, {From: "b", To: "c"}, {From: "c", To: "d"}, {From: "a", To: "x"}}}
	ids := func(f Flow) []string {
		var out []string
		for _, n := range f.Nodes {
			out = append(out, n.ID)
		}
		return out
	}
	down, err := Subflow(f, []string{"b"}, true)
	if err != nil || !slices.Equal(ids(down), []string{"b", "c", "d"}) || len(down.Edges) != 2 {
		t.Fatalf("b and downstream: %v %v %v", ids(down), down.Edges, err)
	}
	set, err := Subflow(f, []string{"a", "c"}, false)
	if err != nil || !slices.Equal(ids(set), []string{"a", "c"}) || len(set.Edges) != 0 {
		t.Fatalf("chosen set: %v %v %v", ids(set), set.Edges, err)
	}
	if _, err := Subflow(f, []string{"nope"}, false); err == nil {
		t.Fatal("unknown node accepted")
	}
	if len(f.Nodes) != 5 || len(f.Edges) != 4 {
		t.Fatal("Subflow changed its input")
	}
}
