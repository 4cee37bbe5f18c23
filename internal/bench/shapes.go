package bench

import (
	"fmt"
	"strings"

	"github.com/baton-sched/baton/internal/dag"
)

// Hand names the hand-written workflow a shape is compared with.
type Hand string

// Hand-written workflows; HandNone marks an interpreter-only shape.
const (
	HandNone    Hand = ""
	HandChain   Hand = "chain"
	HandFanOut  Hand = "fanout"
	HandLayered Hand = "layered"
)

// Shape is a layered DAG: layer k+1 depends on all of layer k. Chains,
// fan-out/fan-in and wide layered flows are all this, with different widths.
type Shape struct {
	Name   string
	Widths []int // task nodes per layer
	// ViaAnd connects two layers both wider than one through an `and` node
	// (w+w edges) instead of fully (w*w edges). Both mean the same thing.
	ViaAnd bool
	Hand   Hand
	// MaxInFlight and HistoryLimit are passed to the interpreter (0: its
	// defaults); quick shapes lower them so a smoke run still exercises
	// queueing and continue-as-new.
	MaxInFlight  int
	HistoryLimit int
	// Shell makes every task a real shell task running `true` on the
	// ShellGroup worker (activities.Tasks and internal/executor, as
	// `baton worker` runs them) instead of the no-op.
	Shell bool
}

// ShellGroup is the worker group of the Shell shapes.
const ShellGroup = "shell"

// ShellScript is what each task of a Shell shape runs.
const ShellScript = "true"

// task is the shape's task for every node.
func (s Shape) task() dag.Task {
	if s.Shell {
		return dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: ShellScript}, Group: ShellGroup}
	}
	return dag.Task{Kind: dag.KindNoop}
}

// NodeID names task node i of layer k; the hand-written workflows use the
// same ids so that both are measured against the same dependencies.
func NodeID(layer, i int) string { return fmt.Sprintf("n%d.%d", layer, i) }

func andID(layer int) string { return fmt.Sprintf("and%d", layer) }

// TaskNodes counts the shape's task nodes (activities per run).
func (s Shape) TaskNodes() int {
	n := 0
	for _, w := range s.Widths {
		n += w
	}
	return n
}

// Flow generates the shape's flow definition for the interpreter.
func (s Shape) Flow() dag.Flow {
	f := dag.Flow{Name: "bench-" + s.Name}
	for k, w := range s.Widths {
		for i := 0; i < w; i++ {
			t := s.task()
			f.Nodes = append(f.Nodes, dag.Node{ID: NodeID(k, i), Type: dag.NodeTask, Task: &t})
		}
		if k == 0 {
			continue
		}
		prev := s.Widths[k-1]
		if s.ViaAnd && prev > 1 && w > 1 {
			gate := andID(k - 1)
			f.Nodes = append(f.Nodes, dag.Node{ID: gate, Type: dag.NodeAnd})
			for j := 0; j < prev; j++ {
				f.Edges = append(f.Edges, dag.Edge{From: NodeID(k-1, j), To: gate})
			}
			for i := 0; i < w; i++ {
				f.Edges = append(f.Edges, dag.Edge{From: gate, To: NodeID(k, i)})
			}
			continue
		}
		for j := 0; j < prev; j++ {
			for i := 0; i < w; i++ {
				f.Edges = append(f.Edges, dag.Edge{From: NodeID(k-1, j), To: NodeID(k, i)})
			}
		}
	}
	return f
}

// Describe says in a few words how the shape is built, for the report.
func (s Shape) Describe() string {
	var b strings.Builder
	switch {
	case len(s.Widths) > 1 && allEqual(s.Widths, 1):
		fmt.Fprintf(&b, "chain of %d", len(s.Widths))
	case len(s.Widths) == 3 && s.Widths[0] == 1 && s.Widths[2] == 1:
		fmt.Fprintf(&b, "1 → %d → 1", s.Widths[1])
	default:
		fmt.Fprintf(&b, "%d layers × %d", len(s.Widths), s.Widths[0])
		if s.ViaAnd {
			b.WriteString(", layers joined by `and` nodes")
		} else {
			b.WriteString(", layers fully connected")
		}
	}
	f := s.Flow()
	fmt.Fprintf(&b, " (%d nodes, %d edges)", len(f.Nodes), len(f.Edges))
	if s.MaxInFlight > 0 {
		fmt.Fprintf(&b, ", MaxInFlight %d", s.MaxInFlight)
	}
	if s.HistoryLimit > 0 {
		fmt.Fprintf(&b, ", HistoryLimit %d", s.HistoryLimit)
	}
	if s.Shell {
		fmt.Fprintf(&b, ", shell tasks `%s`", ShellScript)
	}
	return b.String()
}

func allEqual(xs []int, v int) bool {
	for _, x := range xs {
		if x != v {
			return false
		}
	}
	return true
}

func repeat(w, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = w
	}
	return out
}

// Shapes lists the benchmark's shapes; quick ones are small enough for a
// smoke run but still queue (MaxInFlight) and continue as new.
func Shapes(quick bool) []Shape {
	if quick {
		return []Shape{
			{Name: "chain-10", Widths: repeat(1, 10), Hand: HandChain},
			{Name: "fanout-50", Widths: []int{1, 50, 1}, Hand: HandFanOut},
			{Name: "layered-4x5", Widths: repeat(5, 4), Hand: HandLayered},
			{Name: "layered-and-4x5", Widths: repeat(5, 4), ViaAnd: true, Hand: HandLayered},
			{Name: "fanout-300", Widths: []int{1, 300, 1}, MaxInFlight: 100},
			{Name: "flow-400", Widths: repeat(20, 20), ViaAnd: true, HistoryLimit: 400},
			{Name: "shell-chain-5", Widths: repeat(1, 5), Hand: HandChain, Shell: true},
			{Name: "shell-fanout-10", Widths: []int{1, 10, 1}, Hand: HandFanOut, Shell: true},
		}
	}
	return []Shape{
		{Name: "chain-100", Widths: repeat(1, 100), Hand: HandChain},
		{Name: "fanout-1000", Widths: []int{1, 1000, 1}, Hand: HandFanOut},
		{Name: "layered-20x50", Widths: repeat(50, 20), Hand: HandLayered},
		{Name: "layered-and-20x50", Widths: repeat(50, 20), ViaAnd: true, Hand: HandLayered},
		{Name: "fanout-3000", Widths: []int{1, 3000, 1}, Hand: HandFanOut},
		{Name: "flow-5000", Widths: repeat(100, 50), ViaAnd: true, Hand: HandLayered},
		{Name: "flow-10000", Widths: repeat(100, 100), ViaAnd: true, Hand: HandLayered},
		{Name: "shell-chain-20", Widths: repeat(1, 20), Hand: HandChain, Shell: true},
		{Name: "shell-fanout-50", Widths: []int{1, 50, 1}, Hand: HandFanOut, Shell: true},
	}
}

// FilterShapes keeps the shapes whose name contains one of the
// comma-separated terms; an empty filter keeps all.
func FilterShapes(all []Shape, filter string) ([]Shape, error) {
	if strings.TrimSpace(filter) == "" {
		return all, nil
	}
	var out []Shape
	for _, s := range all {
		for _, term := range strings.Split(filter, ",") {
			if term = strings.TrimSpace(term); term != "" && strings.Contains(s.Name, term) {
				out = append(out, s)
				break
			}
		}
	}
	if len(out) == 0 {
		names := make([]string, len(all))
		for i, s := range all {
			names[i] = s.Name
		}
		return nil, fmt.Errorf("no shape matches %q (shapes: %s)", filter, strings.Join(names, ", "))
	}
	return out, nil
}

// TaskDeps maps every task node to the task nodes it waits for, looking
// through logic nodes: the pairs whose hop latency is measured.
func TaskDeps(f *dag.Flow) map[string][]string {
	logic := map[string]bool{}
	for _, n := range f.Nodes {
		if n.IsLogic() {
			logic[n.ID] = true
		}
	}
	up := map[string][]string{}
	for _, e := range f.Edges {
		up[e.To] = append(up[e.To], e.From)
	}
	memo := map[string][]string{}
	var resolve func(id string) []string
	resolve = func(id string) []string {
		if r, ok := memo[id]; ok {
			return r
		}
		var out []string
		seen := map[string]bool{}
		for _, u := range up[id] {
			srcs := []string{u}
			if logic[u] {
				srcs = resolve(u)
			}
			for _, s := range srcs {
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
		memo[id] = out
		return out
	}
	deps := map[string][]string{}
	for _, n := range f.Nodes {
		if !logic[n.ID] {
			deps[n.ID] = resolve(n.ID)
		}
	}
	return deps
}

// ControlShape names the control latency shape (RunControl) in -shapes.
const ControlShape = "control"

// SplitControl takes the control shape's term out of a -shapes filter:
// control says it runs (an empty filter runs everything), rest is the
// filter of the other shapes, none when the filter named only control.
func SplitControl(filter string) (rest string, control, others bool) {
	if strings.TrimSpace(filter) == "" {
		return "", true, true
	}
	var terms []string
	for _, term := range strings.Split(filter, ",") {
		term = strings.TrimSpace(term)
		switch term {
		case "":
		case ControlShape:
			control = true
		default:
			terms = append(terms, term)
		}
	}
	return strings.Join(terms, ","), control, len(terms) > 0
}
