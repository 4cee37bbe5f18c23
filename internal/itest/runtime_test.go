package itest

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/executor"
)

// detailView is the part of a run's detail these tests read.
type detailView struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Nodes  []struct {
		ID        string         `json:"id"`
		Status    string         `json:"status"`
		Message   string         `json:"message"`
		Instances []instanceView `json:"instances"`
	} `json:"nodes"`
}

type instanceView struct {
	ID       string `json:"id"`
	Attempt  int    `json:"attempt"`
	WorkerID string `json:"worker_id"`
	Status   string `json:"status"`
	Message  string `json:"message"`
	LogSize  int64  `json:"log_size"`
}

func (d *detailView) node(id string) (status, message string, insts []instanceView) {
	for _, n := range d.Nodes {
		if n.ID == id {
			insts = append([]instanceView(nil), n.Instances...)
			sort.Slice(insts, func(i, j int) bool { return insts[i].Attempt < insts[j].Attempt })
			return n.Status, n.Message, insts
		}
	}
	return "", "", nil
}

func runDetail(t *testing.T, base, id string) detailView {
	t.Helper()
	var d detailView
	if code := call(t, base, "GET", "/api/v1/runs/"+id, nil, &d); code != http.StatusOK {
		t.Fatalf("GET run %s: %d", id, code)
	}
	return d
}

// startFlow creates a flow and runs it once with params, returning the run id.
func startFlow(t *testing.T, base string, flow map[string]any, params map[string]string) string {
	t.Helper()
	var f struct{ ID string }
	if code := call(t, base, "POST", "/api/v1/flows", flow, &f); code != http.StatusCreated {
		t.Fatalf("create flow: %d", code)
	}
	var run struct{ ID string }
	if code := call(t, base, "POST", "/api/v1/flows/"+f.ID+"/runs", map[string]any{"params": params}, &run); code != http.StatusCreated {
		t.Fatalf("start run: %d", code)
	}
	return run.ID
}

func shellNodeJSON(id, script string) map[string]any {
	return map[string]any{"id": id, "type": "task", "task": map[string]any{"kind": "shell", "shell": map[string]any{"script": script}}}
}

func httpNodeJSON(id, rawURL string, expect ...int) map[string]any {
	spec := map[string]any{"method": "GET", "url": rawURL}
	if len(expect) > 0 {
		spec["expect_status"] = expect
	}
	return map[string]any{"id": id, "type": "task", "task": map[string]any{"kind": "http", "http": spec}}
}

// eventually polls cond until it holds, failing the test after within
// with what and the state cond saw last.
func eventually(t *testing.T, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s; last seen: %s", within, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// get does an authorised GET and returns the whole answer.
func get(t *testing.T, base, path string) answer {
	t.Helper()
	return request(t, "GET", base+path, nil, nil)
}

// procStat reads a process's state, parent and process group from
// /proc/<pid>/stat; ok is false once the process is gone.
func procStat(pid int) (state byte, ppid, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, false
	}
	// The command name may hold spaces and parentheses; the fields after
	// the last ')' are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return 0, 0, 0, false
	}
	ppid, _ = strconv.Atoi(f[1])
	pgrp, _ = strconv.Atoi(f[2])
	return f[0][0], ppid, pgrp, true
}

// childGroups lists the process groups led by direct children of pid:
// the shell instances a worker started, each in its own group.
func childGroups(t *testing.T, pid int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var groups []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, pgrp, ok := procStat(child); ok && ppid == pid && pgrp == child {
			groups = append(groups, pgrp)
		}
	}
	return groups
}

// crash kills a worker process and its task processes as a power cut
// would: the worker first, so it cannot report its task's end, then, once
// it is dead, the process groups of the shells it ran.
func crash(t *testing.T, p *proc) {
	t.Helper()
	pid := p.cmd.Process.Pid
	groups := childGroups(t, pid)
	if len(groups) == 0 {
		t.Fatalf("worker %d has no task process to kill", pid)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "killed worker dies", func() (bool, string) {
		st, _, _, ok := procStat(pid)
		return !ok || st == 'Z', fmt.Sprintf("state %c", st)
	})
	for _, g := range groups {
		// Only groups of processes this test's worker started, never ours.
		if g > 1 && g != syscall.Getpgrp() {
			if err := syscall.Kill(-g, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
				t.Errorf("kill process group %d: %v", g, err)
			}
		}
	}
}

// TestWorkerKilledMidTaskRunsAgainElsewhere kills -9 the worker process
// running a task (and the task's processes, as a machine crash would) and
// expects the instance to be declared lost after the heartbeat timeout and
// to run again, as a new attempt, on the other worker of the group.
func TestWorkerKilledMidTaskRunsAgainElsewhere(t *testing.T) {
	bin, err := buildBaton()
	if err != nil {
		t.Fatal(err)
	}
	forEachDB(t, func(t *testing.T, dsn string) {
		srv := startTemporal(t)
		httpAddr := freeAddr(t)
		env := []string{
			"BATON_DB_DSN=" + dsn,
			"BATON_TEMPORAL_ADDRESS=" + srv.FrontendAddr(),
			"BATON_ADMIN_TOKEN=" + testToken,
			"BATON_HTTP_ADDR=" + httpAddr,
		}
		migrate := exec.Command(bin, "migrate")
		migrate.Env = append(os.Environ(), env...)
		if out, err := migrate.CombinedOutput(); err != nil {
			t.Fatalf("baton migrate: %v\n%s", err, out)
		}
		startProc(t, bin, env, "api")
		workers := map[string]*proc{
			"w1": startProc(t, bin, env, "worker", "--group", "default", "--id", "w1"),
			"w2": startProc(t, bin, env, "worker", "--group", "default", "--id", "w2"),
		}
		base := "http://" + httpAddr
		waitHealthy(t, base)
		eventually(t, 60*time.Second, "both workers registered", func() (bool, string) {
			var ws struct{ Items []struct{ ID string } }
			call(t, base, "GET", "/api/v1/workers", nil, &ws)
			return len(ws.Items) == 2, fmt.Sprintf("%+v", ws.Items)
		})

		runID := startFlow(t, base, map[string]any{
			"name":  "crash",
			"nodes": []map[string]any{shellNodeJSON("work", `echo "on $BATON_ATTEMPT"; sleep 20`)},
		}, nil)
		var first instanceView
		eventually(t, 60*time.Second, "the instance is running on a worker", func() (bool, string) {
			d := runDetail(t, base, runID)
			_, _, insts := d.node("work")
			if len(insts) == 1 && insts[0].Status == "running" && insts[0].WorkerID != "" {
				first = insts[0]
				return true, ""
			}
			return false, fmt.Sprintf("run %s, instances %+v", d.Status, insts)
		})
		victim, ok := workers[first.WorkerID]
		if !ok {
			t.Fatalf("instance runs on unknown worker %q", first.WorkerID)
		}
		// The script printing proves its shell exists, so it can be found.
		eventually(t, 30*time.Second, "the first attempt prints", func() (bool, string) {
			b := get(t, base, "/api/v1/instances/"+first.ID+"/log").body
			return strings.Contains(string(b), "on 1"), fmt.Sprintf("log %q", b)
		})
		crash(t, victim)
		t.Logf("killed worker %s (pid %d) running %s", first.WorkerID, victim.cmd.Process.Pid, first.ID)

		// 15 s heartbeat timeout, then the 20 s script again.
		got := waitRun(t, base, runID, 120*time.Second)
		if got.Status != "success" {
			t.Fatalf("run ended %q, want success: %+v", got.Status, runDetail(t, base, runID))
		}
		d := runDetail(t, base, runID)
		status, _, insts := d.node("work")
		if status != "success" || len(insts) != 2 {
			t.Fatalf("node %s with instances %+v, want success after 2 attempts", status, insts)
		}
		lost, again := insts[0], insts[1]
		if lost.Attempt != 1 || lost.Status != "failed" || !strings.Contains(lost.Message, "worker lost") || lost.WorkerID != first.WorkerID {
			t.Errorf("first attempt %+v, want failed, \"worker lost\", on %s", lost, first.WorkerID)
		}
		if again.Attempt != 2 || again.Status != "success" || again.WorkerID == first.WorkerID || workers[again.WorkerID] == nil {
			t.Errorf("second attempt %+v, want success on the other worker", again)
		}
		if b := get(t, base, "/api/v1/instances/"+again.ID+"/log").body; !strings.Contains(string(b), "on 2") {
			t.Errorf("second attempt's log %q, want \"on 2\"", b)
		}
	})
}

// TestLiveTailFollowsRunningInstance reads a running instance's log with
// follow=true: output arrives while the task runs, and the stream ends by
// itself once the instance has ended.
func TestLiveTailFollowsRunningInstance(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := newStack(t, dsn)
		// The task holds between its two lines until the test lets it go,
		// so "before the run ends" does not depend on timing.
		release := filepath.Join(t.TempDir(), "release")
		runID := startFlow(t, s.api.URL, map[string]any{
			"name": "tail",
			"nodes": []map[string]any{shellNodeJSON("talk", `echo "first line"
i=0; while [ ! -e "$BATON_PARAM_RELEASE" ] && [ $i -lt 900 ]; do sleep 0.1; i=$((i+1)); done
echo "last line"`)},
		}, map[string]string{"release": release})
		var inst string
		eventually(t, 60*time.Second, "the instance is dispatched", func() (bool, string) {
			d := runDetail(t, s.api.URL, runID)
			_, _, insts := d.node("talk")
			if len(insts) == 1 {
				inst = insts[0].ID
			}
			return inst != "", "run " + d.Status
		})

		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", s.api.URL+"/api/v1/instances/"+inst+"/log?follow=true", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("follow: %d", resp.StatusCode)
		}
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for !strings.Contains(got.String(), "first line\n") {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				t.Fatalf("stream ended (%v) before the first line; got %q", err, got.String())
			}
		}
		d := runDetail(t, s.api.URL, runID)
		if _, _, insts := d.node("talk"); d.Status != "running" || len(insts) != 1 || terminalInstance(insts[0].Status) {
			t.Fatalf("first line read, but the run is %q: %+v", d.Status, d)
		}
		if err := os.WriteFile(release, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		rest, err := io.ReadAll(resp.Body)
		got.Write(rest)
		if err != nil {
			t.Fatalf("stream did not end by itself: %v; got %q", err, got.String())
		}
		if got.String() != "first line\nlast line\n" {
			t.Errorf("streamed %q", got.String())
		}
		// It ended because the instance did.
		d = runDetail(t, s.api.URL, runID)
		if _, _, insts := d.node("talk"); len(insts) != 1 || insts[0].Status != "success" {
			t.Errorf("stream ended with the instance %+v", insts)
		}
		if end := waitRun(t, s.api.URL, runID, 60*time.Second); end.Status != "success" {
			t.Errorf("run %q", end.Status)
		}
	})
}

func terminalInstance(s string) bool {
	switch s {
	case "success", "failed", "stopped", "timeout", "stop_failed":
		return true
	}
	return false
}

// TestLargeOutputIsCappedAndArchived runs a task printing 50 MB: the run
// succeeds, the stored log stops at the cap with the truncation marker, and
// the run's log archive holds it.
func TestLargeOutputIsCappedAndArchived(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		s := newStack(t, dsn)
		runID := startFlow(t, s.api.URL, map[string]any{
			"name":  "flood",
			"nodes": []map[string]any{shellNodeJSON("flood", `head -c 50000000 /dev/zero | tr '\0' x; echo; echo done`)},
		}, nil)
		if got := waitRun(t, s.api.URL, runID, 180*time.Second); got.Status != "success" {
			t.Fatalf("run %q: %+v", got.Status, runDetail(t, s.api.URL, runID))
		}
		d := runDetail(t, s.api.URL, runID)
		_, _, insts := d.node("flood")
		if len(insts) != 1 {
			t.Fatalf("instances %+v", insts)
		}
		marker := executor.TruncationMarker(executor.DefaultLogCap)
		want := int64(executor.DefaultLogCap + len(marker))
		if insts[0].LogSize != want {
			t.Errorf("listed log size %d, want %d", insts[0].LogSize, want)
		}
		tail := get(t, s.api.URL, fmt.Sprintf("/api/v1/instances/%s/log?offset=%d", insts[0].ID, want-int64(len(marker))-10))
		if size := tail.header.Get("X-Log-Size"); size != strconv.FormatInt(want, 10) {
			t.Errorf("X-Log-Size %s, want %d", size, want)
		}
		if string(tail.body) != "xxxxxxxxxx"+marker {
			t.Errorf("log ends %q, want ten x then %q", tail.body, marker)
		}

		zipped := get(t, s.api.URL, "/api/v1/runs/"+runID+"/logs")
		if zipped.status != http.StatusOK || zipped.header.Get("Content-Type") != "application/zip" {
			t.Fatalf("archive: %d %s", zipped.status, zipped.header.Get("Content-Type"))
		}
		if cd := zipped.header.Get("Content-Disposition"); !strings.Contains(cd, "run-"+runID+"-logs.zip") {
			t.Errorf("content disposition %q", cd)
		}
		zr, err := zip.NewReader(bytes.NewReader(zipped.body), int64(len(zipped.body)))
		if err != nil {
			t.Fatalf("archive is not a zip: %v", err)
		}
		seen := map[string]bool{}
		for _, f := range zr.File {
			seen[f.Name] = true
			if f.Name != "flood/0-attempt1.log" {
				continue
			}
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(rc)
			_ = rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) != want || !bytes.HasSuffix(data, []byte(marker)) || !bytes.HasPrefix(data, []byte("xxxx")) {
				t.Errorf("archived log: %d bytes ending %q", len(data), data[max(0, len(data)-80):])
			}
		}
		if !seen["flood/0-attempt1.log"] || !seen["run.json"] {
			t.Errorf("archive entries %v", seen)
		}
	})
}

// TestHTTPTasksThroughStack runs http tasks on a worker whose allowlist
// names one local server exactly: that server is reached, a server on
// another local port and the cloud metadata address are refused, and the
// refusal is what the operator sees.
func TestHTTPTasksThroughStack(t *testing.T) {
	var allowedHits, otherHits atomic.Int64
	allowed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		allowedHits.Add(1)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "hello from upstream")
	}))
	defer allowed.Close()
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { otherHits.Add(1) }))
	defer other.Close()
	au, err := url.Parse(allowed.URL)
	if err != nil {
		t.Fatal(err)
	}

	s := newStackOpts(t, databases(t)["sqlite"], stackOptions{HTTPAllow: []string{au.Host}})
	runID := startFlow(t, s.api.URL, map[string]any{
		"name": "calls",
		"nodes": []map[string]any{
			httpNodeJSON("allowed", allowed.URL+"/ping", http.StatusAccepted),
			httpNodeJSON("other_port", other.URL+"/"),
			httpNodeJSON("metadata", "http://169.254.169.254/latest/meta-data/"),
		},
	}, nil)
	if got := waitRun(t, s.api.URL, runID, 60*time.Second); got.Status != "failed" {
		t.Fatalf("run %q, want failed (two refused calls)", got.Status)
	}
	d := runDetail(t, s.api.URL, runID)
	check := func(node, status, text string) {
		t.Helper()
		st, msg, insts := d.node(node)
		if st != status || len(insts) != 1 || insts[0].Status != status {
			t.Errorf("%s: node %q instances %+v, want %s", node, st, insts, status)
			return
		}
		log := get(t, s.api.URL, "/api/v1/instances/"+insts[0].ID+"/log").body
		if !strings.Contains(string(log), text) {
			t.Errorf("%s: log %q lacks %q", node, log, text)
		}
		if status == "failed" && !strings.Contains(insts[0].Message+" "+msg, text) {
			t.Errorf("%s: messages %q / %q lack %q", node, insts[0].Message, msg, text)
		}
	}
	check("allowed", "success", "202 Accepted")
	check("other_port", "failed", "refused: 127.0.0.1 is a loopback address")
	check("metadata", "failed", "refused: 169.254.169.254 is a link-local address")
	if allowedHits.Load() != 1 || otherHits.Load() != 0 {
		t.Errorf("requests reaching the allowed server: %d (want 1), the other: %d (want 0)", allowedHits.Load(), otherHits.Load())
	}
}
