package dag

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// flowOf builds a flow from compact specs: nodes as "id" (task) or "id:and" /
// "id:or", edges as "from>to" or "from>to:on".
func flowOf(nodes []string, edges []string) *Flow {
	f := &Flow{Name: "t"}
	for _, s := range nodes {
		id, typ, ok := strings.Cut(s, ":")
		n := Node{ID: id, Type: NodeTask, Task: &Task{Kind: KindNoop}}
		if ok {
			n = Node{ID: id, Type: NodeType(typ)}
		}
		f.Nodes = append(f.Nodes, n)
	}
	for _, s := range edges {
		fromTo, on, _ := strings.Cut(s, ":")
		from, to, _ := strings.Cut(fromTo, ">")
		f.Edges = append(f.Edges, Edge{From: from, To: to, On: EdgeOn(on)})
	}
	return f
}

func mustGraph(t testing.TB, f *Flow) *Graph {
	t.Helper()
	g, err := NewGraph(f)
	if err != nil {
		t.Fatalf("NewGraph: %v", err)
	}
	return g
}

func outcomes(m map[string]Outcome) func(string) Outcome {
	return func(id string) Outcome { return m[id] }
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		edges []string
		out   map[string]Outcome
		node  string
		want  Decision
	}{
		{"root is ready", []string{"a"}, nil, nil, "a", Ready},
		{"logic root is ready", []string{"x:and"}, nil, nil, "x", Ready},
		{"success edge waits on pending", []string{"a", "b"}, []string{"a>b"}, nil, "b", Wait},
		{"default edge is success", []string{"a", "b"}, []string{"a>b"}, map[string]Outcome{"a": Succeeded}, "b", Ready},
		{"success edge dead on failure", []string{"a", "b"}, []string{"a>b:success"}, map[string]Outcome{"a": Failed}, "b", Skip},
		{"success edge dead on skip", []string{"a", "b"}, []string{"a>b:success"}, map[string]Outcome{"a": Skipped}, "b", Skip},
		{"failure edge satisfied on failed", []string{"a", "b"}, []string{"a>b:failure"}, map[string]Outcome{"a": Failed}, "b", Ready},
		{"failure edge dead on success", []string{"a", "b"}, []string{"a>b:failure"}, map[string]Outcome{"a": Succeeded}, "b", Skip},
		{"failure edge dead on skip", []string{"a", "b"}, []string{"a>b:failure"}, map[string]Outcome{"a": Skipped}, "b", Skip},
		{"always edge satisfied on success", []string{"a", "b"}, []string{"a>b:always"}, map[string]Outcome{"a": Succeeded}, "b", Ready},
		{"always edge satisfied on failure", []string{"a", "b"}, []string{"a>b:always"}, map[string]Outcome{"a": Failed}, "b", Ready},
		{"always edge dead on skip", []string{"a", "b"}, []string{"a>b:always"}, map[string]Outcome{"a": Skipped}, "b", Skip},
		{"always edge waits on pending", []string{"a", "b"}, []string{"a>b:always"}, nil, "b", Wait},
		{"unknown outcome value counts as pending", []string{"a", "b"}, []string{"a>b:always"}, map[string]Outcome{"a": Outcome(42)}, "b", Wait},
		{"unknown edge condition is dead once finished", []string{"a", "b"}, []string{"a>b:sometimes"}, map[string]Outcome{"a": Succeeded}, "b", Skip},

		{"task node ANDs its edges: one pending", []string{"a", "b", "c"}, []string{"a>c", "b>c"}, map[string]Outcome{"a": Succeeded}, "c", Wait},
		{"task node ANDs its edges: all satisfied", []string{"a", "b", "c"}, []string{"a>c", "b>c:failure"}, map[string]Outcome{"a": Succeeded, "b": Failed}, "c", Ready},
		{"task node skipped as soon as one edge is dead", []string{"a", "b", "c"}, []string{"a>c", "b>c"}, map[string]Outcome{"a": Failed}, "c", Skip},

		{"and: all satisfied", []string{"a", "b", "j:and"}, []string{"a>j", "b>j"}, map[string]Outcome{"a": Succeeded, "b": Succeeded}, "j", Ready},
		{"and: one pending", []string{"a", "b", "j:and"}, []string{"a>j", "b>j"}, map[string]Outcome{"a": Succeeded}, "j", Wait},
		{"and: one dead edge skips even while another is pending", []string{"a", "b", "j:and"}, []string{"a>j", "b>j"}, map[string]Outcome{"b": Skipped}, "j", Skip},
		{"and: one dead among satisfied", []string{"a", "b", "j:and"}, []string{"a>j", "b>j"}, map[string]Outcome{"a": Succeeded, "b": Failed}, "j", Skip},

		{"or: success branch and failure branch, one satisfied", []string{"a", "b", "o:or"}, []string{"a>o:success", "b>o:success"}, map[string]Outcome{"a": Succeeded, "b": Failed}, "o", Ready},
		{"or: ready while the other is still pending", []string{"a", "b", "o:or"}, []string{"a>o", "b>o"}, map[string]Outcome{"b": Succeeded}, "o", Ready},
		{"or: both dead", []string{"a", "b", "o:or"}, []string{"a>o:success", "b>o:success"}, map[string]Outcome{"a": Failed, "b": Failed}, "o", Skip},
		{"or: dead and skipped", []string{"a", "b", "o:or"}, []string{"a>o", "b>o"}, map[string]Outcome{"a": Failed, "b": Skipped}, "o", Skip},
		{"or: one dead one pending waits", []string{"a", "b", "o:or"}, []string{"a>o", "b>o"}, map[string]Outcome{"a": Failed}, "o", Wait},
		{"or: failure edge from a failed upstream", []string{"a", "b", "o:or"}, []string{"a>o:success", "b>o:failure"}, map[string]Outcome{"a": Failed, "b": Failed}, "o", Ready},

		{"unknown node waits", []string{"a"}, nil, nil, "nope", Wait},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := mustGraph(t, flowOf(tt.nodes, tt.edges))
			if got := g.Decide(tt.node, outcomes(tt.out)); got != tt.want {
				t.Fatalf("Decide(%q) = %v, want %v", tt.node, got, tt.want)
			}
		})
	}
}

// walk runs the one-pass skip propagation the interpreter relies on: every
// node in Order() is decided once, with given outcomes for nodes that ran.
func walk(g *Graph, ran map[string]Outcome) map[string]Decision {
	out := map[string]Outcome{}
	dec := map[string]Decision{}
	for _, id := range g.Order() {
		d := g.Decide(id, outcomes(out))
		dec[id] = d
		switch d {
		case Skip:
			out[id] = Skipped
		case Ready:
			if o, ok := ran[id]; ok {
				out[id] = o
			} else {
				out[id] = Succeeded
			}
		}
	}
	return dec
}

func TestSkipPropagatesInOnePass(t *testing.T) {
	// a fails; b (success edge) is skipped, and so is everything after it,
	// including an always edge and an and gate; the or gate still fires
	// through the failure branch.
	f := flowOf(
		[]string{"e", "d", "c", "b", "a", "j:and", "h", "o:or", "z"},
		[]string{"a>b", "b>c", "c>d:always", "d>e:failure", "d>j", "h>j", "a>h:failure", "j>o", "h>o", "o>z"},
	)
	g := mustGraph(t, f)
	got := walk(g, map[string]Outcome{"a": Failed})
	want := map[string]Decision{
		"a": Ready, "b": Skip, "c": Skip, "d": Skip, "e": Skip,
		"h": Ready, "j": Skip, "o": Ready, "z": Ready,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decisions\n got %v\nwant %v", got, want)
	}
}

func TestOrderDeterministicTies(t *testing.T) {
	// Nodes declared out of dependency order: ties are broken by declaration
	// position among the nodes available at each step.
	f := flowOf(
		[]string{"d", "c", "b", "a", "x", "y"},
		[]string{"a>d", "a>c", "b>c", "y>x"},
	)
	want := []string{"b", "a", "d", "c", "y", "x"}
	for i := 0; i < 20; i++ {
		g := mustGraph(t, f)
		if got := g.Order(); !reflect.DeepEqual(got, want) {
			t.Fatalf("Order = %v, want %v", got, want)
		}
	}
	g := mustGraph(t, f)
	for p, id := range want {
		if g.Index(id) != p {
			t.Fatalf("Index(%q) = %d, want %d", id, g.Index(id), p)
		}
	}
	if g.Index("nope") != -1 {
		t.Fatalf("Index of unknown id should be -1")
	}
	if got := g.Roots(); !reflect.DeepEqual(got, []string{"b", "a", "y"}) {
		t.Fatalf("Roots = %v", got)
	}
}

func TestNewGraphErrors(t *testing.T) {
	tests := []struct {
		name  string
		nodes []string
		edges []string
		cycle []string // nil: not a cycle error
		want  string
	}{
		{"self edge", []string{"a", "b"}, []string{"a>b", "b>b"}, []string{"b"}, "cycle: b -> b"},
		{"two-cycle", []string{"a", "b"}, []string{"a>b", "b>a"}, []string{"a", "b"}, "cycle: a -> b -> a"},
		{"cycle behind a root", []string{"r", "x", "c", "b", "a"}, []string{"r>a", "a>b", "b>c", "c>a", "c>x"}, []string{"c", "a", "b"}, ""},
		{"unknown from", []string{"a"}, []string{"z>a"}, nil, `edges[0]: unknown node "z"`},
		{"unknown to", []string{"a"}, []string{"a>z"}, nil, `edges[0]: unknown node "z"`},
		{"duplicate node", []string{"a", "b", "a"}, nil, nil, `duplicate node id "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewGraph(flowOf(tt.nodes, tt.edges))
			if err == nil {
				t.Fatal("NewGraph succeeded")
			}
			var ce *CycleError
			if tt.cycle != nil {
				if !errors.As(err, &ce) {
					t.Fatalf("err = %v, want a CycleError", err)
				}
				if !reflect.DeepEqual(ce.Nodes, tt.cycle) {
					t.Fatalf("cycle = %v, want %v", ce.Nodes, tt.cycle)
				}
			} else if errors.As(err, &ce) {
				t.Fatalf("unexpected CycleError %v", err)
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := NewGraph(nil); err == nil {
		t.Fatal("NewGraph(nil) succeeded")
	}
}

func TestClosuresAndAccessors(t *testing.T) {
	f := flowOf(
		[]string{"a", "b", "c", "d", "e", "lone"},
		[]string{"a>b", "a>c:failure", "b>d", "c>d:always", "d>e", "b>e"},
	)
	g := mustGraph(t, f)
	if g.Len() != 6 {
		t.Fatalf("Len = %d", g.Len())
	}
	if got := g.Descendants("a"); !reflect.DeepEqual(got, []string{"b", "c", "d", "e"}) {
		t.Fatalf("Descendants(a) = %v", got)
	}
	if got := g.Descendants("c"); !reflect.DeepEqual(got, []string{"d", "e"}) {
		t.Fatalf("Descendants(c) = %v", got)
	}
	if got := ancestors(g, "e"); !reflect.DeepEqual(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("ancestors(e) = %v", got)
	}
	if got := ancestors(g, "lone"); len(got) != 0 {
		t.Fatalf("ancestors(lone) = %v", got)
	}
	if g.Descendants("nope") != nil || ancestors(g, "nope") != nil {
		t.Fatal("closures of an unknown id should be nil")
	}
	if got := g.Upstream("d"); !reflect.DeepEqual(got, []Edge{{From: "b", To: "d"}, {From: "c", To: "d", On: OnAlways}}) {
		t.Fatalf("Upstream(d) = %v", got)
	}
	if got := g.Downstream("b"); !reflect.DeepEqual(got, []Edge{{From: "b", To: "d"}, {From: "b", To: "e"}}) {
		t.Fatalf("Downstream(b) = %v", got)
	}
	// A caller's append must not write into the graph.
	up := g.Upstream("d")
	_ = append(up, Edge{From: "x", To: "d"})
	if len(g.Upstream("d")) != 2 {
		t.Fatal("append leaked into the graph")
	}
	if g.Node("c") == nil || g.Node("c").ID != "c" || g.Node("nope") != nil {
		t.Fatal("Node lookup wrong")
	}
	// The graph keeps its own node list.
	f.Nodes[2].ID = "changed"
	if g.Node("c") == nil {
		t.Fatal("graph shares the flow's node slice")
	}

	handled := map[string]bool{"a": true, "b": false, "c": true, "d": false, "e": false, "nope": false}
	for id, want := range handled {
		if got := g.FailureHandled(id); got != want {
			t.Errorf("FailureHandled(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestLargeGraphs(t *testing.T) {
	const n = 10000
	chain := &Flow{Name: "chain"}
	for i := 0; i < n; i++ {
		chain.Nodes = append(chain.Nodes, Node{ID: fmt.Sprintf("n%d", i), Type: NodeTask, Task: &Task{Kind: KindNoop}})
		if i > 0 {
			chain.Edges = append(chain.Edges, Edge{From: fmt.Sprintf("n%d", i-1), To: fmt.Sprintf("n%d", i)})
		}
	}
	g := mustGraph(t, chain)
	if g.Index("n9999") != n-1 || g.Order()[0] != "n0" {
		t.Fatal("chain order wrong")
	}
	if len(g.Descendants("n0")) != n-1 || len(ancestors(g, "n9999")) != n-1 {
		t.Fatal("chain closures wrong")
	}
	// Failing the head skips the whole chain in one pass.
	dec := walk(g, map[string]Outcome{"n0": Failed})
	if dec["n9999"] != Skip || dec["n1"] != Skip {
		t.Fatal("skip did not propagate along the chain")
	}
	if p := ValidateFlow(chain, Options{}); len(p) != 0 {
		t.Fatalf("chain invalid: %v", p)
	}

	// 1 -> 1000 -> 1, declared sink first to exercise ordering.
	fan := &Flow{Name: "fan"}
	fan.Nodes = append(fan.Nodes, Node{ID: "sink", Type: NodeAnd}, Node{ID: "src", Type: NodeTask, TaskID: "t"})
	for i := 0; i < 1000; i++ {
		id := fmt.Sprintf("m%d", i)
		fan.Nodes = append(fan.Nodes, Node{ID: id, Type: NodeTask, TaskID: "t"})
		fan.Edges = append(fan.Edges, Edge{From: "src", To: id}, Edge{From: id, To: "sink"})
	}
	g = mustGraph(t, fan)
	order := g.Order()
	if order[0] != "src" || order[1] != "m0" || order[1000] != "m999" || order[1001] != "sink" {
		t.Fatalf("fan order wrong: %v ... %v", order[:3], order[len(order)-2:])
	}
	out := map[string]Outcome{"src": Succeeded}
	for i := 0; i < 999; i++ {
		out[fmt.Sprintf("m%d", i)] = Succeeded
	}
	if d := g.Decide("sink", outcomes(out)); d != Wait {
		t.Fatalf("sink with one pending = %v", d)
	}
	out["m999"] = Succeeded
	if d := g.Decide("sink", outcomes(out)); d != Ready {
		t.Fatalf("sink with all done = %v", d)
	}
	if p := ValidateFlow(fan, Options{}); len(p) != 0 {
		t.Fatalf("fan invalid: %v", p)
	}
}

func TestWithin(t *testing.T) {
	// a -> b -> d -> e, a -> c -> d, x -> d; c declared before b.
	f := &Flow{Nodes: []Node{{ID: "a"}, {ID: "c"}, {ID: "b"}, {ID: "x"}, {ID: "d"}, {ID: "e"}},
		Edges: []Edge{{From: "a", To: "b"}, {From: "b", To: "d"}, {From: "d", To: "e"},
			{From: "a", To: "c"}, {From: "c", To: "d"}, {From: "x", To: "d"}}}
	g, err := NewGraph(f)
	if err != nil {
		t.Fatal(err)
	}
	show := func(rs []Reach) string {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "%s%d ", r.ID, r.Distance)
		}
		return strings.TrimSpace(b.String())
	}
	cases := []struct {
		id    string
		depth int
		down  bool
		want  string
	}{
		{"d", 1, false, "c1 b1 x1"},
		{"d", 2, false, "c1 b1 x1 a2"},
		{"d", 0, false, "c1 b1 x1 a2"},
		{"a", 1, true, "c1 b1"},
		{"a", 2, true, "c1 b1 d2"},
		{"a", 0, true, "c1 b1 d2 e3"},
		{"e", 1, true, ""},
		{"nope", 3, true, ""},
	}
	for _, c := range cases {
		if got := show(g.Within(c.id, c.depth, c.down)); got != c.want {
			t.Errorf("Within(%s, %d, down=%v) = %q, want %q", c.id, c.depth, c.down, got, c.want)
		}
	}
}

// ancestors is id's upstream closure, id excluded, in topological order:
// the mirror of Descendants the tests check it against.
func ancestors(g *Graph, id string) []string { return g.closure(id, g.upIdx) }
