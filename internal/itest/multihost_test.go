package itest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/devstack"
	"github.com/baton-sched/baton/internal/engine"
)

// The multi-host test builds four hosts out of network namespaces joined
// by a bridge, each with its own veth link:
//
//	mh-infra  10.77.0.2  Temporal (this test binary, re-executed) and MariaDB
//	mh-api    10.77.0.3  baton api
//	mh-wa     10.77.0.4  baton worker a1 (group a) and b1 (group b)
//	mh-wb     10.77.0.5  baton worker a2 (group a)
//
// The test itself stays in the root namespace (10.77.0.1 on the bridge)
// and talks to the API over the bridge. Cutting mh-wb's link takes a2 off
// the network while it holds an instance.
const (
	mhBridge   = "mh-br0"
	mhRootIP   = "10.77.0.1"
	mhInfraIP  = "10.77.0.2"
	mhAPIIP    = "10.77.0.3"
	mhHelperEv = "BATON_MULTIHOST_TEMPORAL" // set: this process is mh-infra's Temporal
)

var mhHosts = []struct{ ns, ip string }{
	{"mh-infra", mhInfraIP}, {"mh-api", mhAPIIP}, {"mh-wa", "10.77.0.4"}, {"mh-wb", "10.77.0.5"},
}

// TestMultiHostTemporalHelper is not a test: TestMultiHost re-executes the
// test binary inside mh-infra to run Temporal there, listening on the
// namespace's address. It serves until SIGTERM.
func TestMultiHostTemporalHelper(t *testing.T) {
	addr := os.Getenv(mhHelperEv)
	if addr == "" {
		t.Skip("helper process of TestMultiHost")
	}
	srv, err := devstack.Start(devstack.Options{FrontendAddr: addr, Namespace: "default",
		DBFile: os.Getenv(mhHelperEv + "_DB"), SearchAttributes: engine.SearchAttributes()})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("temporal ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Stop()
}

func TestMultiHost(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host: -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("multi-host: needs root to create network namespaces (ip netns); skipped")
	}
	for _, bin := range []string{"ip", "mariadbd", "mariadb-install-db", "mariadb"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("multi-host: %s not found (%v); skipped", bin, err)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", "mh-probe").CombinedOutput(); err != nil {
		t.Skipf("multi-host: this machine refuses network namespaces (ip netns add: %v: %s); skipped", err, bytes.TrimSpace(out))
	}
	_ = exec.Command("ip", "netns", "del", "mh-probe").Run()

	mhNetwork(t)
	dir := t.TempDir()
	baton, err := buildBaton()
	if err != nil {
		t.Fatal(err)
	}

	// mh-infra: MariaDB and Temporal.
	dsn := mhMariaDB(t, filepath.Join(dir, "mariadb"))
	temporal := mhInfraIP + ":7233"
	mhStart(t, dir, "temporal", "mh-infra", []string{mhHelperEv + "=" + temporal, mhHelperEv + "_DB=" + filepath.Join(dir, "temporal.db")},
		os.Args[0], "-test.run=^TestMultiHostTemporalHelper$", "-test.v")
	mhWaitTCP(t, temporal, 2*time.Minute)

	common := []string{"BATON_TEMPORAL_ADDRESS=" + temporal, "BATON_DB_DSN=" + dsn, "BATON_LOG_LEVEL=info",
		"BATON_TASK_CGROUP=off"}
	if out, err := mhCommand("mh-api", append(common, "HOME="+dir), baton, "migrate").CombinedOutput(); err != nil {
		t.Fatalf("baton migrate in mh-api: %v: %s", err, out)
	}
	mhStart(t, dir, "api", "mh-api", append(common, "BATON_HTTP_ADDR="+mhAPIIP+":8080", "BATON_ADMIN_TOKEN="+testToken,
		"BATON_RECONCILE_INTERVAL=5s"), baton, "api")
	base := "http://" + mhAPIIP + ":8080"
	mhWaitTCP(t, mhAPIIP+":8080", time.Minute)

	for _, w := range []struct{ ns, group, id string }{{"mh-wa", "a", "a1"}, {"mh-wa", "b", "b1"}, {"mh-wb", "a", "a2"}} {
		mhStart(t, dir, "worker-"+w.id, w.ns, append(common, "BATON_WORKER_GROUP="+w.group, "BATON_WORKER_ID="+w.id,
			"BATON_TASK_WORK_DIR="+filepath.Join(dir, "work-"+w.id)), baton, "worker")
	}
	mhWaitWorkers(t, base, map[string]bool{"a1": true, "a2": true, "b1": true}, time.Time{}, time.Minute)

	// A flow whose nodes run in both groups, with a broadcast node in a.
	shell := func(group, mode, script string) map[string]any {
		return map[string]any{"kind": "shell", "group": group, "mode": mode, "shell": map[string]any{"script": script}}
	}
	var flow struct {
		ID string `json:"id"`
	}
	if code := call(t, base, "POST", "/api/v1/flows", map[string]any{
		"name": "multi-host",
		"nodes": []map[string]any{
			{"id": "extract", "type": "task", "task": shell("a", "single", "echo extract on $(hostname -I)")},
			{"id": "load", "type": "task", "task": shell("b", "single", "echo load")},
			{"id": "everywhere", "type": "task", "task": shell("a", "broadcast", "echo broadcast")},
		},
		"edges": []map[string]any{{"from": "extract", "to": "load"}, {"from": "load", "to": "everywhere"}},
	}, &flow); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	var run runView
	if code := call(t, base, "POST", "/api/v1/flows/"+flow.ID+"/runs", map[string]any{}, &run); code != 201 {
		t.Fatalf("run flow: %d", code)
	}
	run = waitRun(t, base, run.ID, 2*time.Minute)
	if run.Status != "success" {
		t.Fatalf("multi-host run ended %s: %+v", run.Status, run.Nodes)
	}
	workersOf := func(v runView, node string) []string {
		var ws []string
		for _, n := range v.Nodes {
			if n.ID == node {
				for _, in := range n.Instances {
					ws = append(ws, in.WorkerID)
				}
			}
		}
		return ws
	}
	if ws := workersOf(run, "load"); len(ws) != 1 || ws[0] != "b1" {
		t.Errorf("node load (group b) ran on %v, want b1", ws)
	}
	if ws := workersOf(run, "extract"); len(ws) != 1 || (ws[0] != "a1" && ws[0] != "a2") {
		t.Errorf("node extract (group a) ran on %v, want a1 or a2", ws)
	}
	if ws := workersOf(run, "everywhere"); len(ws) != 2 || !slices.Contains(ws, "a1") || !slices.Contains(ws, "a2") {
		t.Errorf("broadcast node ran on %s, want once on a1 and once on a2", ws)
	}

	// Cut a2's link while it holds an instance: the instance runs again on
	// a1 once a2's heartbeats stop.
	if code := call(t, base, "POST", "/api/v1/flows", map[string]any{
		"name": "multi-host-cut",
		"nodes": []map[string]any{
			{"id": "s1", "type": "task", "task": shell("a", "single", "sleep 20")},
			{"id": "s2", "type": "task", "task": shell("a", "single", "sleep 20")},
			{"id": "s3", "type": "task", "task": shell("a", "single", "sleep 20")},
			{"id": "s4", "type": "task", "task": shell("a", "single", "sleep 20")},
		},
		"edges": []map[string]any{},
	}, &flow); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	if code := call(t, base, "POST", "/api/v1/flows/"+flow.ID+"/runs", map[string]any{}, &run); code != 201 {
		t.Fatalf("run flow: %d", code)
	}
	held := mhWaitInstance(t, base, run.ID, "a2", time.Minute)
	mhLink(t, "mh-wb", "down")
	t.Logf("cut a2's link while it ran node %s", held)
	run = waitRun(t, base, run.ID, 3*time.Minute)
	if run.Status != "success" {
		t.Fatalf("run with a cut worker ended %s: %+v", run.Status, run.Nodes)
	}
	for _, n := range run.Nodes {
		if n.ID != held {
			continue
		}
		last := n.Instances[len(n.Instances)-1]
		if len(n.Instances) < 2 || last.WorkerID != "a1" || last.Status != "success" {
			t.Errorf("node %s after a2 was cut: instances %+v, want a failed attempt on a2 and a successful one on a1", held, n.Instances)
		}
	}

	// With a2 still cut off, a broadcast fails clearly rather than hanging.
	if code := call(t, base, "POST", "/api/v1/flows", map[string]any{
		"name":  "multi-host-broadcast-cut",
		"nodes": []map[string]any{{"id": "all", "type": "task", "task": shell("a", "broadcast", "echo hi")}},
		"edges": []map[string]any{},
	}, &flow); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	if code := call(t, base, "POST", "/api/v1/flows/"+flow.ID+"/runs", map[string]any{}, &run); code != 201 {
		t.Fatalf("run flow: %d", code)
	}
	run = waitRun(t, base, run.ID, 3*time.Minute)
	t.Logf("broadcast with a2 cut off: run %s, nodes %+v", run.Status, run.Nodes)
	if run.Status == "success" {
		// Acceptable only if the broadcast no longer counted a2 as live.
		if ws := workersOf(run, "all"); len(ws) != 1 || ws[0] != "a1" {
			t.Errorf("broadcast succeeded on %v with a2 cut off", ws)
		}
	} else if run.Status != "failed" {
		t.Errorf("broadcast with a2 cut off ended %s, want failed (or success on a1 alone)", run.Status)
	}

	// a2 back, then cut again while it holds its broadcast instance: the
	// instance cannot run elsewhere (it is a2's), so the node must fail
	// and say why rather than wait for a2 for ever.
	mhLink(t, "mh-wb", "up")
	mhWaitWorkers(t, base, map[string]bool{"a1": true, "a2": true}, time.Now().Add(time.Second), 2*time.Minute)
	if code := call(t, base, "POST", "/api/v1/flows", map[string]any{
		"name":  "multi-host-broadcast-held",
		"nodes": []map[string]any{{"id": "all", "type": "task", "task": shell("a", "broadcast", "sleep 20")}},
		"edges": []map[string]any{},
	}, &flow); code != 201 {
		t.Fatalf("create flow: %d", code)
	}
	if code := call(t, base, "POST", "/api/v1/flows/"+flow.ID+"/runs", map[string]any{}, &run); code != 201 {
		t.Fatalf("run flow: %d", code)
	}
	mhWaitInstance(t, base, run.ID, "a2", time.Minute)
	mhLink(t, "mh-wb", "down")
	run = waitRun(t, base, run.ID, 4*time.Minute)
	var detail struct {
		Nodes []struct {
			ID        string `json:"id"`
			Status    string `json:"status"`
			Message   string `json:"message"`
			Instances []struct {
				WorkerID string `json:"worker_id"`
				Status   string `json:"status"`
				Message  string `json:"message"`
			} `json:"instances"`
		} `json:"nodes"`
	}
	call(t, base, "GET", "/api/v1/runs/"+run.ID, nil, &detail)
	t.Logf("broadcast held by a2 when cut: run %s, nodes %+v", run.Status, detail.Nodes)
	if run.Status != "failed" {
		t.Errorf("broadcast whose a2 instance was cut off ended %s, want failed", run.Status)
	}
	said := false
	for _, n := range detail.Nodes {
		for _, in := range n.Instances {
			said = said || (in.Status == "failed" && strings.Contains(in.Message, "worker a2 lost"))
		}
	}
	if !said {
		t.Errorf("no instance failed saying worker a2 was lost: %+v", detail.Nodes)
	}
}

// mhWaitInstance waits until worker runs an instance of the run.
func mhWaitInstance(t *testing.T, base, runID, worker string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var v runView
		call(t, base, "GET", "/api/v1/runs/"+runID, nil, &v)
		for _, n := range v.Nodes {
			for _, in := range n.Instances {
				if in.WorkerID == worker && in.Status == "running" {
					return n.ID
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no instance of run %s ran on %s within %s", runID, worker, within)
	return ""
}

// mhNetwork creates the bridge and the four namespaces, removed at cleanup.
func mhNetwork(t *testing.T) {
	t.Helper()
	mhTeardown()
	t.Cleanup(mhTeardown)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("link", "add", mhBridge, "type", "bridge")
	run("addr", "add", mhRootIP+"/24", "dev", mhBridge)
	run("link", "set", mhBridge, "up")
	for i, h := range mhHosts {
		host, peer := fmt.Sprintf("mh-h%d", i), fmt.Sprintf("mh-p%d", i)
		run("netns", "add", h.ns)
		run("link", "add", host, "type", "veth", "peer", "name", peer)
		run("link", "set", host, "master", mhBridge)
		run("link", "set", host, "up")
		run("link", "set", peer, "netns", h.ns)
		run("-n", h.ns, "addr", "add", h.ip+"/24", "dev", peer)
		run("-n", h.ns, "link", "set", peer, "up")
		run("-n", h.ns, "link", "set", "lo", "up")
	}
}

func mhTeardown() {
	for _, h := range mhHosts {
		_ = exec.Command("ip", "netns", "del", h.ns).Run()
	}
	for i := range mhHosts {
		_ = exec.Command("ip", "link", "del", fmt.Sprintf("mh-h%d", i)).Run()
	}
	_ = exec.Command("ip", "link", "del", mhBridge).Run()
}

// mhLink brings a namespace's veth up or down.
func mhLink(t *testing.T, ns, state string) {
	t.Helper()
	for i, h := range mhHosts {
		if h.ns == ns {
			if out, err := exec.Command("ip", "-n", ns, "link", "set", fmt.Sprintf("mh-p%d", i), state).CombinedOutput(); err != nil {
				t.Fatalf("ip link set %s: %v: %s", state, err, out)
			}
			return
		}
	}
	t.Fatalf("no namespace %s", ns)
}

func mhCommand(ns string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// mhStart runs a process in a namespace until the test ends (SIGTERM,
// then SIGKILL); its output goes to dir/<name>.log, shown on failure.
func mhStart(t *testing.T, dir, name, ns string, env []string, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := mhCommand(ns, env, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s in %s: %v", name, ns, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = f.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("--- %s (%s) log, last 3000 bytes:\n%s", name, ns, tail(b, 3000))
			}
		}
	})
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// mhMariaDB starts a private MariaDB in mh-infra, reachable on the
// bridge, and returns the mirror's DSN.
func mhMariaDB(t *testing.T, dir string) string {
	t.Helper()
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("mariadb-install-db", "--user=root", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db").CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v: %s", err, tail(out, 2000))
	}
	sock := filepath.Join(dir, "mysqld.sock")
	mhStart(t, dir, "mariadb", "mh-infra", nil, "mariadbd", "--no-defaults", "--user=root", "--datadir="+data,
		"--bind-address="+mhInfraIP, "--port=3306", "--socket="+sock, "--pid-file="+filepath.Join(dir, "mysqld.pid"),
		"--skip-log-bin", "--innodb-buffer-pool-size=64M")
	mhWaitTCP(t, mhInfraIP+":3306", time.Minute)
	sql := "CREATE DATABASE baton; CREATE USER 'baton'@'%' IDENTIFIED BY 'baton'; GRANT ALL ON baton.* TO 'baton'@'%';"
	if out, err := exec.Command("mariadb", "--no-defaults", "--socket="+sock, "-uroot", "-e", sql).CombinedOutput(); err != nil {
		t.Fatalf("create the mirror database: %v: %s", err, out)
	}
	return "baton:baton@tcp(" + mhInfraIP + ":3306)/baton"
}

// mhWaitTCP waits until addr accepts connections (from the root namespace).
func mhWaitTCP(t *testing.T, addr string, within time.Duration) {
	t.Helper()
	if _, err := engine.Poll(context.Background(), within, func() (struct{}, error) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
		}
		return struct{}{}, err
	}); err != nil {
		t.Fatalf("%s never accepted a connection: %v", addr, err)
	}
}

// mhWaitWorkers waits until every worker id in want has reported in after since.
func mhWaitWorkers(t *testing.T, base string, want map[string]bool, since time.Time, within time.Duration) {
	t.Helper()
	var seen map[string]bool
	_, err := engine.Poll(context.Background(), within, func() (struct{}, error) {
		var ws struct {
			Items []struct {
				ID       string     `json:"id"`
				LastSeen *time.Time `json:"last_seen"`
			} `json:"items"`
		}
		call(t, base, "GET", "/api/v1/workers", nil, &ws)
		seen = map[string]bool{}
		for _, w := range ws.Items {
			seen[w.ID] = w.LastSeen != nil && w.LastSeen.After(since)
		}
		for id := range want {
			if !seen[id] {
				return struct{}{}, engine.ErrPending
			}
		}
		return struct{}{}, nil
	})
	if err != nil {
		t.Fatalf("workers %v never all reported in (seen %v)", want, seen)
	}
}
