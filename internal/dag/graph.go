package dag

import (
	"container/heap"
	"fmt"
	"sort"
	"strings"
)

// Outcome is how a finished node ended, as edges see it.
type Outcome int

// Outcomes. Any value outside this list is treated as Pending, so a caller
// that grows its own status set can never make an edge fire by accident.
const (
	Pending   Outcome = iota // not finished (or not started)
	Succeeded                // success, including forced success
	Failed                   // failed, timeout or stopped
	Skipped                  // skipped (condition not met)
)

func (o Outcome) String() string {
	switch o {
	case Pending:
		return "pending"
	case Succeeded:
		return "succeeded"
	case Failed:
		return "failed"
	case Skipped:
		return "skipped"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Decision is what Decide says about a node that has not finished yet.
type Decision int

// Decisions.
const (
	Wait  Decision = iota // some incoming edge is still undecided
	Ready                 // the node may start now
	Skip                  // the node can never become ready
)

func (d Decision) String() string {
	switch d {
	case Wait:
		return "wait"
	case Ready:
		return "ready"
	case Skip:
		return "skip"
	}
	return fmt.Sprintf("Decision(%d)", int(d))
}

// CycleError is returned by NewGraph for a cyclic flow. Nodes lists one
// cycle in edge direction, starting from its node declared first, so that the
// same flow always yields the same message.
type CycleError struct {
	Nodes []string
}

func (e *CycleError) Error() string {
	return "cycle: " + strings.Join(append(append([]string(nil), e.Nodes...), e.Nodes[0]), " -> ")
}

// Graph is the immutable, indexed form of a flow's nodes and edges. Every
// per-node slice is indexed by declaration position, so that lookups after
// the single map hit are array accesses; building it is O(N+E) apart from
// the heap that keeps Order deterministic.
type Graph struct {
	nodes []Node
	index map[string]int // id -> declaration position
	up    [][]Edge       // by declaration position, declaration order
	down  [][]Edge
	// Declaration positions of up[i][k].From and down[i][k].To, so that
	// walks need no map lookups.
	upIdx   [][]int
	downIdx [][]int

	order []int // declaration positions in topological order
	pos   []int // declaration position -> position in order
}

// NewGraph indexes f. It trusts nothing that ValidateFlow checks: duplicate
// node ids, edges naming unknown nodes and cycles (self edges included) are
// errors. Duplicate edges are tolerated, since they change no decision.
// The graph keeps its own copy of the node list, so later edits of f do not
// leak in; Task and Retry pointers are still shared.
func NewGraph(f *Flow) (*Graph, error) {
	if f == nil {
		return nil, fmt.Errorf("nil flow")
	}
	n := len(f.Nodes)
	g := &Graph{
		nodes:   append([]Node(nil), f.Nodes...),
		index:   make(map[string]int, n),
		up:      make([][]Edge, n),
		down:    make([][]Edge, n),
		upIdx:   make([][]int, n),
		downIdx: make([][]int, n),
	}
	for i := range g.nodes {
		id := g.nodes[i].ID
		if j, dup := g.index[id]; dup {
			return nil, fmt.Errorf("duplicate node id %q (nodes[%d] and nodes[%d])", id, j, i)
		}
		g.index[id] = i
	}
	indeg := make([]int, n)
	for k, e := range f.Edges {
		from, ok := g.index[e.From]
		if !ok {
			return nil, fmt.Errorf("edges[%d]: unknown node %q", k, e.From)
		}
		to, ok := g.index[e.To]
		if !ok {
			return nil, fmt.Errorf("edges[%d]: unknown node %q", k, e.To)
		}
		g.up[to] = append(g.up[to], e)
		g.upIdx[to] = append(g.upIdx[to], from)
		g.down[from] = append(g.down[from], e)
		g.downIdx[from] = append(g.downIdx[from], to)
		indeg[to]++
	}

	// Kahn's algorithm. A min-heap on declaration position, rather than a
	// FIFO, makes the order a function of the flow alone: among all nodes
	// available at a step, the one declared first goes next.
	g.order = make([]int, 0, n)
	h := make(intHeap, 0, n)
	for i := 0; i < n; i++ {
		if indeg[i] == 0 {
			h = append(h, i)
		}
	}
	heap.Init(&h)
	for h.Len() > 0 {
		i := heap.Pop(&h).(int)
		g.order = append(g.order, i)
		for _, to := range g.downIdx[i] {
			indeg[to]--
			if indeg[to] == 0 {
				heap.Push(&h, to)
			}
		}
	}
	if len(g.order) < n {
		return nil, &CycleError{Nodes: g.cycle(indeg)}
	}
	g.pos = make([]int, n)
	for p, i := range g.order {
		g.pos[i] = p
	}
	return g, nil
}

// cycle extracts one concrete cycle from the nodes Kahn's algorithm could not
// order. Each of them still has an upstream among them (indeg > 0), so
// walking upstream from any of them must revisit a node; the walk is O(N).
func (g *Graph) cycle(indeg []int) []string {
	start := -1
	for i, d := range indeg {
		if d > 0 {
			start = i
			break
		}
	}
	seenAt := make(map[int]int)
	var walk []int
	i := start
	for {
		if at, ok := seenAt[i]; ok {
			walk = walk[at:]
			break
		}
		seenAt[i] = len(walk)
		walk = append(walk, i)
		next := -1
		for _, u := range g.upIdx[i] {
			if indeg[u] > 0 {
				next = u
				break
			}
		}
		i = next
	}
	// walk follows edges backwards; report them forwards, rotated to start
	// at the earliest-declared node of the cycle.
	for l, r := 0, len(walk)-1; l < r; l, r = l+1, r-1 {
		walk[l], walk[r] = walk[r], walk[l]
	}
	first := 0
	for k := range walk {
		if walk[k] < walk[first] {
			first = k
		}
	}
	ids := make([]string, 0, len(walk))
	for k := range walk {
		ids = append(ids, g.nodes[walk[(first+k)%len(walk)]].ID)
	}
	return ids
}

// Len is the number of nodes.
func (g *Graph) Len() int { return len(g.nodes) }

// Order returns every node id in topological order; among nodes available at
// the same step, the one declared first comes first. The slice is fresh.
func (g *Graph) Order() []string {
	ids := make([]string, len(g.order))
	for p, i := range g.order {
		ids[p] = g.nodes[i].ID
	}
	return ids
}

// Index is id's position in Order(), -1 for an unknown id.
func (g *Graph) Index(id string) int {
	i, ok := g.index[id]
	if !ok {
		return -1
	}
	return g.pos[i]
}

// Node returns the node with that id, nil if unknown. It points into the
// graph's own copy and must not be modified.
func (g *Graph) Node(id string) *Node {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return &g.nodes[i]
}

// Upstream returns the edges into id in declaration order. The slice is
// shared and must not be modified; its capacity is clipped so that an append
// by the caller cannot corrupt the graph.
func (g *Graph) Upstream(id string) []Edge {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.up[i][:len(g.up[i]):len(g.up[i])]
}

// Downstream returns the edges out of id in declaration order, shared like
// Upstream's.
func (g *Graph) Downstream(id string) []Edge {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.down[i][:len(g.down[i]):len(g.down[i])]
}

// Roots returns the nodes without upstream edges in declaration order.
func (g *Graph) Roots() []string {
	var ids []string
	for i := range g.nodes {
		if len(g.up[i]) == 0 {
			ids = append(ids, g.nodes[i].ID)
		}
	}
	return ids
}

// edgeState is what one incoming edge says given its upstream's outcome.
type edgeState int

const (
	undecided edgeState = iota
	satisfied
	dead
)

func stateOf(on EdgeOn, o Outcome) edgeState {
	switch o {
	case Succeeded:
		if on == "" || on == OnSuccess || on == OnAlways {
			return satisfied
		}
		return dead
	case Failed:
		if on == OnFailure || on == OnAlways {
			return satisfied
		}
		return dead
	case Skipped:
		// A skipped upstream never ran, so not even an always edge fires:
		// this is what lets skips propagate.
		return dead
	}
	return undecided
}

// Decide says whether a node that has not finished can start, must be
// skipped, or must wait, given the outcomes of its upstream nodes. An edge is
// satisfied when its upstream finished with the matching outcome (success:
// Succeeded, failure: Failed, always: either), dead when the upstream finished
// otherwise or was Skipped, undecided while it is Pending. Task nodes (an
// empty type included) and "and" nodes need every edge satisfied and are
// skipped as soon as one is dead; "or" nodes need one satisfied edge and are
// skipped only when all are dead. Roots are Ready. An edge with an unknown
// condition is dead once its upstream finishes.
//
// Because a Skip depends only on upstream outcomes, a caller that walks
// Order() once, recording Skipped for every node Decide skips, propagates a
// skip through any depth of descendants in that single pass: each node is
// decided after all of its upstream nodes.
//
// An unknown id waits forever. Decide is O(in-degree).
func (g *Graph) Decide(id string, outcome func(id string) Outcome) Decision {
	i, ok := g.index[id]
	if !ok {
		return Wait
	}
	edges := g.up[i]
	if len(edges) == 0 {
		return Ready
	}
	if g.nodes[i].Type == NodeOr {
		anyUndecided := false
		for _, e := range edges {
			switch stateOf(e.On, outcome(e.From)) {
			case satisfied:
				return Ready
			case undecided:
				anyUndecided = true
			}
		}
		if anyUndecided {
			return Wait
		}
		return Skip
	}
	allSatisfied := true
	for _, e := range edges {
		switch stateOf(e.On, outcome(e.From)) {
		case dead:
			return Skip
		case undecided:
			allSatisfied = false
		}
	}
	if allSatisfied {
		return Ready
	}
	return Wait
}

// FailureHandled reports whether a failure of id is handled: it has an
// outgoing failure or always edge (design §4), so the run does not fail
// because of it.
func (g *Graph) FailureHandled(id string) bool {
	i, ok := g.index[id]
	if !ok {
		return false
	}
	for _, e := range g.down[i] {
		if e.On == OnFailure || e.On == OnAlways {
			return true
		}
	}
	return false
}

// Descendants returns id's downstream closure, id excluded, in topological
// order (the order of Order()).
func (g *Graph) Descendants(id string) []string {
	return g.closure(id, g.downIdx)
}

func (g *Graph) closure(id string, adj [][]int) []string {
	start, ok := g.index[id]
	if !ok {
		return nil
	}
	seen := make([]bool, len(g.nodes))
	seen[start] = true
	stack := []int{start}
	var found []int
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range adj[i] {
			if !seen[j] {
				seen[j] = true
				found = append(found, j)
				stack = append(stack, j)
			}
		}
	}
	sort.Slice(found, func(a, b int) bool { return g.pos[found[a]] < g.pos[found[b]] })
	ids := make([]string, len(found))
	for k, i := range found {
		ids[k] = g.nodes[i].ID
	}
	return ids
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Reach is a node found by Within, Distance edges away from the start.
type Reach struct {
	ID       string
	Distance int
}

// Within returns the nodes at most depth edges upstream (down false) or
// downstream (down true) of id, id excluded, nearest first and, at equal
// distance, in topological order. depth <= 0 means no limit. An unknown id
// has no neighbours.
func (g *Graph) Within(id string, depth int, down bool) []Reach {
	start, ok := g.index[id]
	if !ok {
		return nil
	}
	adj := g.upIdx
	if down {
		adj = g.downIdx
	}
	dist := make(map[int]int)
	dist[start] = 0
	frontier := []int{start}
	var found []int
	for d := 1; len(frontier) > 0 && (depth <= 0 || d <= depth); d++ {
		var next []int
		for _, i := range frontier {
			for _, j := range adj[i] {
				if _, seen := dist[j]; !seen {
					dist[j] = d
					next = append(next, j)
				}
			}
		}
		sort.Slice(next, func(a, b int) bool { return g.pos[next[a]] < g.pos[next[b]] })
		found = append(found, next...)
		frontier = next
	}
	out := make([]Reach, len(found))
	for k, i := range found {
		out[k] = Reach{ID: g.nodes[i].ID, Distance: dist[i]}
	}
	return out
}
