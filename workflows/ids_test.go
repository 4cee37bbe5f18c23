package workflows

import "testing"

func TestInstanceIDRoundTrips(t *testing.T) {
	for _, c := range []struct {
		run, node     string
		shard, attemp int
	}{{"r1", "a", 0, 1}, {"r.1", "a.b", 2, 13}, {"run-x", "n", 10, 1}} {
		id := InstanceID(c.run, c.node, c.shard, c.attemp)
		node, shard, attempt, ok := ParseInstanceID(id, c.run)
		if !ok || node != c.node || shard != c.shard || attempt != c.attemp {
			t.Errorf("%s: parsed %q %d %d %v", id, node, shard, attempt, ok)
		}
	}
	// A reset execution's instances carry it (executionSuffix).
	if node, shard, attempt, ok := ParseInstanceID("r~1.a.b.2.3~0f2e9a1c", "r~1"); !ok || node != "a.b" || shard != 2 || attempt != 3 {
		t.Errorf("suffixed id parsed as %q %d %d %v", node, shard, attempt, ok)
	}
	if got := InstanceID("r", "a", 0, 1); got != "r.a.0.1" {
		t.Errorf("format changed: %s (recorded histories hold r.a.0.1)", got)
	}
	for _, bad := range []string{"r.a.0", "r.a.x.1", "q.a.0.1", "r..0.1", "r.0.1", "r.a.0~x.1"} {
		if node, _, _, ok := ParseInstanceID(bad, "r"); ok {
			t.Errorf("%s parsed as node %q", bad, node)
		}
	}
}

func TestBackfillRunIDRoundTrips(t *testing.T) {
	id := BackfillRunID("8f3a-b2", 12, 3)
	if id != "8f3a-b2-12-3" {
		t.Errorf("format changed: %s", id)
	}
	if i, a, ok := ParseBackfillRunID(id, "8f3a-b2"); !ok || i != 12 || a != 3 {
		t.Errorf("parsed %d %d %v", i, a, ok)
	}
	for _, bad := range []string{"8f3a-b2-12", "8f3a-b2-x-3", "other-1-2", "8f3a-b2-1-2-3"} {
		if _, _, ok := ParseBackfillRunID(bad, "8f3a-b2"); ok {
			t.Errorf("%s parsed", bad)
		}
	}
}
