package dag

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func FuzzValidateFlow(f *testing.F) {
	good, _ := json.Marshal(goodFlow())
	f.Add(good)
	single := SingleTaskFlow("main", *goodTask())
	b, _ := json.Marshal(single)
	f.Add(b)
	for _, s := range []string{
		`{}`,
		`{"name":"x","nodes":[{"id":"a","task":{"kind":"noop"}}],"edges":[]}`,
		`{"name":"x","nodes":[{"id":"a","task":{"kind":"noop"}},{"id":"b","type":"or"}],"edges":[{"from":"a","to":"b","on":"failure"},{"from":"a","to":"b"}]}`,
		`{"name":"x","nodes":[{"id":"a","task_id":"t"},{"id":"b","task_id":"t"}],"edges":[{"from":"a","to":"b"},{"from":"b","to":"a"}]}`,
		`{"name":"x","nodes":[{"id":"a","task_id":"t"},{"id":"a","task_id":"t"}],"edges":[{"from":"a","to":"a"}]}`,
		`{"name":"x","nodes":[{"id":"a","task_id":"t"},{"id":"j","type":"and","core":true}],"edges":[{"from":"a","to":"j","on":"always"},{"from":"j","to":"zz"}]}`,
		`{"name":"每日","trigger":{"type":"fixed_rate","interval":"1h","phase":"2h","timezone":"Asia/Shanghai"},"timeout":"3d","nodes":[{"id":"s","task":{"kind":"sleep","sleep":{"duration":"1s"},"mode":"sharding","shards":2,"shard_params":["a"]}}],"edges":[]}`,
		`{"name":"x","nodes":[{"id":"h","task":{"kind":"http","http":{"url":"https://x/y","method":"P OST","expect_status":[99]},"rollback":{"kind":"noop","rollback":{"kind":"shell"}},"retry":{"max_attempts":-1,"backoff":0.5,"initial_interval":"1m","max_interval":"1s"}}}],"edges":[]}`,
		`{"name":"x","trigger":{"type":"cron","cron":"0 0 * * *","timezone":"Local"},"nodes":[{"id":"a","type":"xor"}],"edges":[{"from":"a","to":"b","on":"sometimes"}]}`,
		`{"name":"x","nodes":[{"id":"a","task_id":"t"},{"id":"b","task_id":"t"},{"id":"c","task_id":"t"},{"id":"d","type":"or"}],"edges":[{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"b"},{"from":"c","to":"d"},{"from":"d","to":"a"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fl Flow
		if err := json.Unmarshal(data, &fl); err != nil {
			return
		}
		exists := func(id string) bool { return len(id)%2 == 1 }
		p := ValidateFlow(&fl, Options{TaskExists: exists})
		_ = p.Error()
		if again := ValidateFlow(&fl, Options{TaskExists: exists}); !reflect.DeepEqual(again, p) {
			t.Fatalf("not deterministic:\n%v\n%v", p, again)
		}
		_ = ValidateFlow(&fl, Options{})
		g, err := NewGraph(&fl)
		if err != nil {
			if len(p) == 0 {
				t.Fatalf("valid flow rejected by NewGraph: %v", err)
			}
			var ce *CycleError
			if errors.As(err, &ce) {
				checkCycle(t, &fl, ce.Nodes)
			}
			return
		}
		checkOrder(t, &fl, g)
		// All pending: exactly the roots are ready, nothing is skipped.
		for _, id := range g.Order() {
			d := g.Decide(id, func(string) Outcome { return Pending })
			if want := len(g.Upstream(id)) == 0; (d == Ready) != want || d == Skip {
				t.Fatalf("Decide(%q) with all pending = %v", id, d)
			}
		}
	})
}

// checkOrder verifies that Order is a permutation of the nodes in which every
// edge points forward, and that Index agrees with it.
func checkOrder(t *testing.T, f *Flow, g *Graph) {
	t.Helper()
	order := g.Order()
	if len(order) != len(f.Nodes) || g.Len() != len(f.Nodes) {
		t.Fatalf("Order has %d nodes, flow %d", len(order), len(f.Nodes))
	}
	pos := map[string]int{}
	for p, id := range order {
		if _, dup := pos[id]; dup {
			t.Fatalf("%q twice in Order", id)
		}
		pos[id] = p
		if g.Index(id) != p {
			t.Fatalf("Index(%q) = %d, want %d", id, g.Index(id), p)
		}
	}
	for _, n := range f.Nodes {
		if _, ok := pos[n.ID]; !ok {
			t.Fatalf("%q missing from Order", n.ID)
		}
	}
	for _, e := range f.Edges {
		if pos[e.From] >= pos[e.To] {
			t.Fatalf("edge %s->%s points backwards in %v", e.From, e.To, order)
		}
	}
}

// checkCycle verifies that a reported cycle is made of real edges.
func checkCycle(t *testing.T, f *Flow, cycle []string) {
	t.Helper()
	if len(cycle) == 0 {
		t.Fatal("empty cycle")
	}
	has := map[[2]string]bool{}
	for _, e := range f.Edges {
		has[[2]string{e.From, e.To}] = true
	}
	for k := range cycle {
		from, to := cycle[k], cycle[(k+1)%len(cycle)]
		if !has[[2]string{from, to}] {
			t.Fatalf("cycle %v uses missing edge %s->%s", cycle, from, to)
		}
	}
}

// refDecide is Decide written as directly from design §4 as possible.
func refDecide(n Node, in []Edge, out map[string]Outcome) Decision {
	if len(in) == 0 {
		return Ready
	}
	var sat, dead int
	for _, e := range in {
		o := out[e.From]
		switch {
		case o == Succeeded && (e.On == "" || e.On == OnSuccess || e.On == OnAlways),
			o == Failed && (e.On == OnFailure || e.On == OnAlways):
			sat++
		case o == Succeeded || o == Failed || o == Skipped:
			dead++
		}
	}
	if n.Type == NodeOr {
		switch {
		case sat > 0:
			return Ready
		case dead == len(in):
			return Skip
		}
		return Wait
	}
	switch {
	case dead > 0:
		return Skip
	case sat == len(in):
		return Ready
	}
	return Wait
}

// FuzzDecide builds a small DAG (edges always go from a lower to a higher
// node number, declared in a scrambled order), compares Decide with the
// reference for random outcomes, then checks that one pass over Order()
// reaches the same final state as iterating the reference to a fixpoint.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(3), []byte{0, 1, 0, 1, 2, 1}, []byte{2, 0, 0}, []byte{0, 0, 2}, uint8(0))
	f.Add(uint8(4), []byte{0, 3, 0, 1, 3, 0, 2, 3, 2}, []byte{1, 2, 3, 0}, []byte{0, 0, 0, 2}, uint8(1))
	f.Add(uint8(6), []byte{0, 1, 1, 1, 2, 3, 2, 3, 0, 0, 4, 2, 4, 5, 0, 3, 5, 1}, []byte{2, 1, 2, 2, 1, 0}, []byte{3, 0, 1, 2, 1, 3}, uint8(5))
	f.Add(uint8(2), []byte{0, 1, 4}, []byte{4, 9}, []byte{1, 1}, uint8(7))
	f.Fuzz(func(t *testing.T, size uint8, edgeBytes, outBytes, typeBytes []byte, scramble uint8) {
		n := int(size%10) + 1
		types := []NodeType{NodeTask, NodeAnd, NodeOr, ""}
		ons := []EdgeOn{"", OnSuccess, OnFailure, OnAlways, "bogus"}
		nodes := make([]Node, n)
		for i := range nodes {
			typ := NodeTask
			if i < len(typeBytes) {
				typ = types[int(typeBytes[i])%len(types)]
			}
			nodes[i] = Node{ID: fmt.Sprintf("n%d", i), Type: typ}
		}
		fl := &Flow{Name: "fuzz"}
		// Declare node i at a rotated, optionally reversed position, so
		// declaration order and dependency order disagree.
		for k := 0; k < n; k++ {
			i := (k + int(scramble)) % n
			if scramble&0x80 != 0 {
				i = n - 1 - i
			}
			fl.Nodes = append(fl.Nodes, nodes[i])
		}
		for k := 0; k+2 < len(edgeBytes); k += 3 {
			a, b := int(edgeBytes[k])%n, int(edgeBytes[k+1])%n
			if a == b {
				continue
			}
			if a > b {
				a, b = b, a
			}
			fl.Edges = append(fl.Edges, Edge{From: nodes[a].ID, To: nodes[b].ID, On: ons[int(edgeBytes[k+2])%len(ons)]})
		}
		g, err := NewGraph(fl)
		if err != nil {
			t.Fatalf("NewGraph on a DAG: %v", err)
		}
		checkOrder(t, fl, g)
		in := map[string][]Edge{}
		for _, e := range fl.Edges {
			in[e.To] = append(in[e.To], e)
		}

		// Arbitrary outcomes, including values outside the enum.
		out := map[string]Outcome{}
		for i := 0; i < n && i < len(outBytes); i++ {
			out[nodes[i].ID] = Outcome(outBytes[i] % 5)
		}
		for _, nd := range nodes {
			got := g.Decide(nd.ID, func(id string) Outcome { return out[id] })
			if want := refDecide(nd, in[nd.ID], out); got != want {
				t.Fatalf("Decide(%s) = %v, reference %v; upstream %v outcomes %v", nd.ID, got, want, in[nd.ID], out)
			}
		}

		// When a node runs, it ends as outBytes says (odd: failed).
		ends := func(id string) Outcome {
			for i, nd := range nodes {
				if nd.ID == id && i < len(outBytes) && outBytes[i]%2 == 1 {
					return Failed
				}
			}
			return Succeeded
		}
		onePass := map[string]Outcome{}
		for _, id := range g.Order() {
			switch g.Decide(id, func(id string) Outcome { return onePass[id] }) {
			case Ready:
				onePass[id] = ends(id)
			case Skip:
				onePass[id] = Skipped
			case Wait:
				t.Fatalf("%s waits although every upstream node was decided", id)
			}
		}
		fix := map[string]Outcome{}
		for changed := true; changed; {
			changed = false
			for _, nd := range nodes {
				if fix[nd.ID] != Pending {
					continue
				}
				switch refDecide(nd, in[nd.ID], fix) {
				case Ready:
					fix[nd.ID] = ends(nd.ID)
					changed = true
				case Skip:
					fix[nd.ID] = Skipped
					changed = true
				}
			}
		}
		if !reflect.DeepEqual(onePass, fix) {
			t.Fatalf("one pass %v, fixpoint %v", onePass, fix)
		}
		// Closures agree with reachability along edges.
		for _, nd := range nodes {
			for _, d := range g.Descendants(nd.ID) {
				if g.Index(d) <= g.Index(nd.ID) {
					t.Fatalf("descendant %s of %s is not after it", d, nd.ID)
				}
				found := false
				for _, a := range ancestors(g, d) {
					found = found || a == nd.ID
				}
				if !found {
					t.Fatalf("%s is a descendant of %s but not the other way round", d, nd.ID)
				}
			}
		}
	})
}
