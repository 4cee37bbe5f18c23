package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"

	"github.com/baton-sched/baton/internal/dag"
)

// Diff is what changed between two versions of a definition. Nodes are
// matched by id and edges by from>to, so reordering either is no change.
type Diff struct {
	// Fields are the changed fields outside nodes and edges, as JSON paths
	// (trigger.cron, params.region).
	Fields       []string     `json:"fields"`
	NodesAdded   []string     `json:"nodes_added"`
	NodesRemoved []string     `json:"nodes_removed"`
	NodesChanged []NodeChange `json:"nodes_changed"`
	EdgesAdded   []string     `json:"edges_added"`
	EdgesRemoved []string     `json:"edges_removed"`
	EdgesChanged []EdgeChange `json:"edges_changed"`
}

// NodeChange is a node present in both versions whose definition differs.
type NodeChange struct {
	ID     string   `json:"id"`
	Fields []string `json:"fields"`
}

// EdgeChange is an edge present in both versions whose condition differs.
type EdgeChange struct {
	Edge string     `json:"edge"`
	From dag.EdgeOn `json:"from"`
	To   dag.EdgeOn `json:"to"`
}

// Empty reports whether the versions are the same.
func (d Diff) Empty() bool {
	return len(d.Fields)+len(d.NodesAdded)+len(d.NodesRemoved)+len(d.NodesChanged)+
		len(d.EdgesAdded)+len(d.EdgesRemoved)+len(d.EdgesChanged) == 0
}

func newDiff() Diff {
	return Diff{Fields: []string{}, NodesAdded: []string{}, NodesRemoved: []string{}, NodesChanged: []NodeChange{},
		EdgesAdded: []string{}, EdgesRemoved: []string{}, EdgesChanged: []EdgeChange{}}
}

// diffFlows compares two flows.
func diffFlows(old, cur dag.Flow) Diff {
	d := newDiff()
	oh, ch := old, cur
	oh.Nodes, oh.Edges, ch.Nodes, ch.Edges = nil, nil, nil, nil
	d.Fields = changedPaths(oh, ch)

	oldNodes := map[string]dag.Node{}
	for _, n := range old.Nodes {
		oldNodes[n.ID] = n
	}
	seen := map[string]bool{}
	for _, n := range cur.Nodes {
		seen[n.ID] = true
		o, ok := oldNodes[n.ID]
		if !ok {
			d.NodesAdded = append(d.NodesAdded, n.ID)
			continue
		}
		if f := changedPaths(o, n); len(f) > 0 {
			d.NodesChanged = append(d.NodesChanged, NodeChange{ID: n.ID, Fields: f})
		}
	}
	for _, n := range old.Nodes {
		if !seen[n.ID] {
			d.NodesRemoved = append(d.NodesRemoved, n.ID)
		}
	}

	key := func(e dag.Edge) string { return e.From + ">" + e.To }
	oldEdges := map[string]dag.Edge{}
	for _, e := range old.Edges {
		oldEdges[key(e)] = e
	}
	seenEdges := map[string]bool{}
	for _, e := range cur.Edges {
		k := key(e)
		seenEdges[k] = true
		o, ok := oldEdges[k]
		switch {
		case !ok:
			d.EdgesAdded = append(d.EdgesAdded, k)
		case o.Condition() != e.Condition():
			d.EdgesChanged = append(d.EdgesChanged, EdgeChange{Edge: k, From: o.Condition(), To: e.Condition()})
		}
	}
	for _, e := range old.Edges {
		if !seenEdges[key(e)] {
			d.EdgesRemoved = append(d.EdgesRemoved, key(e))
		}
	}
	return d
}

// diffTasks compares two tasks: a task has fields only.
func diffTasks(old, cur dag.Task) Diff {
	d := newDiff()
	d.Fields = changedPaths(old, cur)
	return d
}

// changedPaths lists the JSON paths where a and b differ. Lists are
// compared whole: a path into a list index says little to a reader.
func changedPaths(a, b any) []string {
	out := []string{}
	walkDiff("", generic(a), generic(b), &out)
	sort.Strings(out)
	return out
}

// generic turns a value into its JSON shape (maps, lists, scalars).
func generic(v any) any {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var g any
	_ = json.Unmarshal(raw, &g)
	return g
}

func walkDiff(path string, a, b any, out *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		if !reflect.DeepEqual(a, b) {
			*out = append(*out, dash(path))
		}
		return
	}
	keys := map[string]bool{}
	for k := range am {
		keys[k] = true
	}
	for k := range bm {
		keys[k] = true
	}
	for k := range keys {
		p := k
		if path != "" {
			p = path + "." + k
		}
		walkDiff(p, am[k], bm[k], out)
	}
}

// writeDiff prints a diff for people: + added, - removed, ~ changed.
func writeDiff(w io.Writer, d Diff) error {
	if d.Empty() {
		_, err := fmt.Fprintln(w, "no changes")
		return err
	}
	var b strings.Builder
	for _, f := range d.Fields {
		fmt.Fprintf(&b, "~ %s\n", f)
	}
	for _, n := range d.NodesAdded {
		fmt.Fprintf(&b, "+ node %s\n", n)
	}
	for _, n := range d.NodesRemoved {
		fmt.Fprintf(&b, "- node %s\n", n)
	}
	for _, n := range d.NodesChanged {
		fmt.Fprintf(&b, "~ node %s: %s\n", n.ID, strings.Join(n.Fields, ", "))
	}
	for _, e := range d.EdgesAdded {
		fmt.Fprintf(&b, "+ edge %s\n", e)
	}
	for _, e := range d.EdgesRemoved {
		fmt.Fprintf(&b, "- edge %s\n", e)
	}
	for _, e := range d.EdgesChanged {
		fmt.Fprintf(&b, "~ edge %s: on %s -> %s\n", e.Edge, e.From, e.To)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// summary is a one-line count of a diff, for apply.
func (d Diff) summary() string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(len(d.NodesAdded), "nodes added")
	add(len(d.NodesRemoved), "nodes removed")
	add(len(d.NodesChanged), "nodes changed")
	add(len(d.EdgesAdded), "edges added")
	add(len(d.EdgesRemoved), "edges removed")
	add(len(d.EdgesChanged), "edges changed")
	add(len(d.Fields), "fields changed")
	if len(parts) == 0 {
		return "no changes"
	}
	return strings.Join(parts, ", ")
}
