package itest

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// TestBroadcastRunsOnEveryLiveWorker runs a broadcast node with two real
// worker processes in the group: one instance on each, each on its own
// worker's queue.
func TestBroadcastRunsOnEveryLiveWorker(t *testing.T) {
	bin, err := buildBaton()
	if err != nil {
		t.Fatal(err)
	}
	dsn := databases(t)["sqlite"]
	if m := os.Getenv("BATON_TEST_MYSQL_DSN"); m != "" {
		dsn = freshMySQL(t, m)
	}
	srv := startTemporal(t)
	httpAddr := freeAddr(t)
	env := []string{"BATON_DB_DSN=" + dsn, "BATON_TEMPORAL_ADDRESS=" + srv.FrontendAddr(),
		"BATON_ADMIN_TOKEN=" + testToken, "BATON_HTTP_ADDR=" + httpAddr}
	if out, err := runCmd(bin, env, "migrate"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	startProc(t, bin, env, "api")
	startProc(t, bin, env, "worker", "--group", "default", "--id", "bw1")
	startProc(t, bin, env, "worker", "--group", "default", "--id", "bw2")
	base := "http://" + httpAddr
	waitHealthy(t, base)
	// Both workers must have registered before the node is dispatched.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ws struct {
			Items []struct{ ID string } `json:"items"`
		}
		call(t, base, "GET", "/api/v1/workers", nil, &ws)
		var ids []string
		for _, w := range ws.Items {
			ids = append(ids, w.ID)
		}
		if slices.Contains(ids, "bw1") && slices.Contains(ids, "bw2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers registered: %v", ids)
		}
		time.Sleep(200 * time.Millisecond)
	}
	flow := map[string]any{"name": "broadcast", "nodes": []map[string]any{{"id": "everywhere", "type": "task",
		"task": map[string]any{"kind": "shell", "mode": "broadcast", "shell": map[string]any{"script": `echo "shard $BATON_SHARD_INDEX of $BATON_SHARD_TOTAL"`}}}},
		"edges": []any{}}
	var f struct{ ID string }
	if code := call(t, base, "POST", "/api/v1/flows", flow, &f); code != 201 {
		t.Fatalf("create: %d", code)
	}
	var run runView
	if code := call(t, base, "POST", "/api/v1/flows/"+f.ID+"/runs", nil, &run); code != 201 {
		t.Fatalf("run: %d", code)
	}
	got := waitRun(t, base, run.ID, 60*time.Second)
	if got.Status != "success" || len(got.Nodes) != 1 {
		t.Fatalf("run: %+v", got)
	}
	var on []string
	for _, in := range got.Nodes[0].Instances {
		if in.Status != "success" {
			t.Errorf("instance %s: %s", in.ID, in.Status)
		}
		on = append(on, in.WorkerID)
	}
	slices.Sort(on)
	if !slices.Equal(on, []string{"bw1", "bw2"}) {
		t.Fatalf("broadcast instances ran on %v, want one on each of bw1 and bw2", on)
	}
}

// runCmd runs a one-shot baton command (migrate) to completion.
func runCmd(bin string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}
