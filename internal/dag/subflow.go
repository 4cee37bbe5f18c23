package dag

import "fmt"

// Subflow cuts f down to the chosen nodes (and, with downstream, every node
// downstream of them), keeping the edges among the kept nodes: what a
// backfill of "a node and its downstream" or of "a chosen set" runs. Edges
// from dropped nodes disappear, so kept nodes no longer wait for them (a
// logic node left without upstream is a root and passes at once).
func Subflow(f Flow, chosen []string, downstream bool) (Flow, error) {
	g, err := NewGraph(&f)
	if err != nil {
		return Flow{}, err
	}
	keep := map[string]bool{}
	for _, id := range chosen {
		if g.Node(id) == nil {
			return Flow{}, fmt.Errorf("no node %q in flow %q", id, f.Name)
		}
		keep[id] = true
		if downstream {
			for _, d := range g.Descendants(id) {
				keep[d] = true
			}
		}
	}
	out := f
	out.Nodes, out.Edges = nil, []Edge{}
	for _, n := range f.Nodes {
		if keep[n.ID] {
			out.Nodes = append(out.Nodes, n)
		}
	}
	for _, e := range f.Edges {
		if keep[e.From] && keep[e.To] {
			out.Edges = append(out.Edges, e)
		}
	}
	return out, nil
}
