package itest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/baton-sched/baton/internal/cli"
)

// syncBuf is an output a command writes while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// cliEnv runs the baton CLI in-process, as `baton ARGS...`, against a stack.
type cliEnv struct {
	t     *testing.T
	env   map[string]string
	stdin string // of the next command only
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func (c *cliEnv) run(args ...string) cliResult {
	c.t.Helper()
	var out, errOut syncBuf
	stdin := c.stdin
	c.stdin = ""
	code := c.runTo(stdin, &out, &errOut, args...)
	c.t.Logf("$ baton %s  (exit %d)\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
	return cliResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

func (c *cliEnv) runTo(stdin string, out, errOut *syncBuf, args ...string) int {
	root := &cobra.Command{Use: "baton"}
	root.AddCommand(cli.Commands(cli.Options{
		Getenv:       func(k string) string { return c.env[k] },
		PollInterval: 200 * time.Millisecond,
	})...)
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(out)
	root.SetErr(errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return cli.Execute(ctx, root)
}

// ok runs a command that must succeed and returns its stdout.
func (c *cliEnv) ok(args ...string) string {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("baton %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func wantLines(t *testing.T, what, out string, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !strings.Contains(out, l) {
			t.Errorf("%s: no %q in\n%s", what, l, out)
		}
	}
}

const cliFlow = `# a YAML flow, as a user writes it
name: cli-etl
params:
  dir: %DIR%
nodes:
  - id: extract
    type: task
    task: {kind: shell, shell: {script: 'echo extracting $BATON_BIZDATE for $BATON_PARAM_WHO'}}
  - id: load
    type: task
    task:
      kind: shell
      shell:
        script: |
          echo loading
          test -f "$BATON_PARAM_DIR/load-ok" || { touch "$BATON_PARAM_DIR/load-ok"; echo first attempt fails >&2; exit 1; }
          echo loaded
edges:
  - {from: extract, to: load}
`

// cliReport is the node the second version adds: it prints, then waits
// for the test, so its log is tailed while it runs.
const cliReport = `  - id: report
    type: task
    task:
      kind: shell
      shell:
        script: |
          echo report-start
          while [ ! -f "$BATON_PARAM_DIR/release" ]; do sleep 0.1; done
          echo report-done
`

// TestCLI drives the baton CLI against a real stack: login, apply a YAML
// flow, run it with --follow, retry the node that failed, tail a log while
// the node runs, and the refusals (exit 3) and usage errors (exit 2).
func TestCLI(t *testing.T) {
	s := newStack(t, databases(t)["sqlite"])
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "baton", "config.yaml")
	c := &cliEnv{t: t, env: map[string]string{"BATON_CONFIG": cfg}}

	// Login checks the token first and saves nothing when it is wrong.
	r := c.run("login", "--addr", s.api.URL, "--token", "bt_wrong")
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("login with a wrong token: exit %d %q", r.code, r.stderr)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Error("a refused login saved the config")
	}
	c.stdin = testToken + "\n" // without --token it is read from stdin
	wantLines(t, "login", c.ok("login", "--addr", s.api.URL), "logged in to "+s.api.URL)
	if fi, err := os.Stat(cfg); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file %v %v, want mode 600", fi, err)
	}

	// Apply a YAML flow: created, then unchanged, then a new version.
	flowFile := filepath.Join(dir, "flow.yaml")
	write := func(body string) {
		if err := os.WriteFile(flowFile, []byte(strings.ReplaceAll(body, "%DIR%", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cliFlow)
	out := c.ok("flows", "apply", "-f", flowFile)
	wantLines(t, "apply (create)", out, "flow cli-etl created", "version 1", "+ node extract", "+ node load", "+ edge extract>load")
	wantLines(t, "apply (same file)", c.ok("flows", "apply", "-f", flowFile), "unchanged at version 1")
	write(strings.Replace(cliFlow, "edges:\n", cliReport+"edges:\n", 1) + "  - {from: load, to: report}\n")
	out = c.ok("flows", "apply", "-f", flowFile)
	wantLines(t, "apply (update)", out, "updated: version 1 -> 2", "+ node report", "+ edge load>report")
	var d struct {
		NodesAdded []string `json:"nodes_added"`
		EdgesAdded []string `json:"edges_added"`
	}
	if err := json.Unmarshal([]byte(c.ok("flows", "diff", "cli-etl", "1", "2", "-o", "json")), &d); err != nil ||
		len(d.NodesAdded) != 1 || d.NodesAdded[0] != "report" || len(d.EdgesAdded) != 1 {
		t.Errorf("diff -o json: %+v %v", d, err)
	}
	wantLines(t, "flows list", c.ok("flows", "list"), "cli-etl", "ID", "VERSION")
	wantLines(t, "flows get", c.ok("flows", "get", "cli-etl"), "extract", "load", "report", "load")

	// Run with --follow on a pipe: plain lines, and exit 1 since load fails.
	r = c.run("flows", "run", "cli-etl", "--bizdate", "2026-01-31", "--param", "who=cli", "--follow")
	if r.code != 1 {
		t.Fatalf("a followed run that fails: exit %d, want 1", r.code)
	}
	m := regexp.MustCompile(`run (\S+) started`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no run id in %q", r.stdout)
	}
	id := m[1]
	wantLines(t, "run --follow", r.stdout, "node extract success", "node load failed", "node report skipped", "run "+id+" failed in ")
	wantLines(t, "run --follow", r.stderr, "run "+id+" ended failed")
	if strings.Contains(r.stdout, "\x1b[") {
		t.Errorf("ANSI codes on a pipe: %q", r.stdout)
	}
	wantLines(t, "logs", c.ok("runs", "logs", id, "--node", "extract"), "extracting 2026-01-31 for cli")
	wantLines(t, "logs of the failed node", c.ok("runs", "logs", id, "--node", "load"), "first attempt fails")

	// A refusal is exit 3 with the API's code and message.
	r = c.run("runs", "node", id, "extract", "skip")
	if r.code != 3 || !strings.Contains(r.stderr, "node_not_eligible (HTTP 409)") {
		t.Errorf("skip a node that succeeded: exit %d %q", r.code, r.stderr)
	}

	// Retry the failed node and follow; tail report's log while it runs.
	var retryOut, retryErr, tailOut, tailErr syncBuf
	var wg sync.WaitGroup
	var retryCode, tailCode int
	wg.Add(2)
	go func() {
		defer wg.Done()
		retryCode = c.runTo("", &retryOut, &retryErr, "runs", "node", id, "load", "retry", "--follow")
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(retryOut.String(), "node report running") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	go func() {
		defer wg.Done()
		tailCode = c.runTo("", &tailOut, &tailErr, "runs", "logs", id, "--node", "report", "-f")
	}()
	for !strings.Contains(tailOut.String(), "report-start") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(tailOut.String(), "report-start") {
		t.Fatalf("logs -f shows nothing of the running node: %q %q; retry: %q %q", tailOut.String(), tailErr.String(), retryOut.String(), retryErr.String())
	}
	if strings.Contains(tailOut.String(), "report-done") {
		t.Fatal("report finished before the test released it")
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if tailCode != 0 || !strings.Contains(tailOut.String(), "report-done") {
		t.Errorf("logs -f: exit %d, output %q %q", tailCode, tailOut.String(), tailErr.String())
	}
	if retryCode != 0 {
		t.Errorf("retry --follow: exit %d\n%s%s", retryCode, retryOut.String(), retryErr.String())
	}
	wantLines(t, "retry --follow", retryOut.String(), "retry node load of run "+id+": applied to nodes load",
		"node load success (attempt 2)", "node report success", "run "+id+" success in ")
	wantLines(t, "logs after retry", c.ok("runs", "logs", id, "--node", "load"), "loading", "loaded")

	// The run is closed now: stopping it is refused, exit 3.
	r = c.run("runs", "stop", id, "--reason", "too late")
	if r.code != 3 || !strings.Contains(r.stderr, "run_closed (HTTP 409)") || !strings.Contains(r.stderr, "closed") {
		t.Errorf("stop a finished run: exit %d %q", r.code, r.stderr)
	}
	out = c.ok("runs", "node", id, "load", "rerun-from", "--dry-run")
	wantLines(t, "rerun-from --dry-run", out, "dry run: rerun-from node load of run "+id+" would touch nodes load, report")

	var shown struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Nodes  []struct {
			ID        string `json:"id"`
			Status    string `json:"status"`
			Instances []struct {
				ID string `json:"id"`
			} `json:"instances"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(c.ok("runs", "show", id, "-o", "json")), &shown); err != nil || shown.Status != "success" || len(shown.Nodes) != 3 {
		t.Errorf("runs show -o json: %+v %v", shown, err)
	}
	if len(shown.Nodes) > 0 && len(shown.Nodes[0].Instances) > 0 {
		r = c.run("runs", "instance", shown.Nodes[0].Instances[0].ID, "rerun", "--dry-run")
		if r.code != 3 || !strings.Contains(r.stderr, "run_closed (HTTP 409)") {
			t.Errorf("rerun an instance of a closed run: exit %d %q", r.code, r.stderr)
		}
	}
	archive := filepath.Join(t.TempDir(), "logs.zip")
	wantLines(t, "logs --archive", c.ok("runs", "logs", id, "--archive", archive), "saved "+archive)
	if zr, err := zip.OpenReader(archive); err != nil {
		t.Errorf("log archive: %v", err)
	} else {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		_ = zr.Close()
		wantLines(t, "log archive entries", strings.Join(names, " "), "run.json", "load/0-attempt2.log", "report/0-attempt1.log")
	}
	wantLines(t, "runs stats", c.ok("runs", "stats", "--definition", "cli-etl"), "STATUS", "success", "total")
	wantLines(t, "runs show", c.ok("runs", "show", id), "status:", "success", "NODE", "load", "2")
	wantLines(t, "runs show -o yaml", c.ok("runs", "show", id, "-o", "yaml"), "\nstatus: success\n", "\nnodes:\n- ")
	wantLines(t, "runs list", c.ok("runs", "list", "--trigger", "manual", "--status", "success,failed", "--bizdate-from", "2026-01-31"), id, "cli-etl")
	r = c.run("runs", "list", "--status", "exploded")
	if r.code != 1 || !strings.Contains(r.stderr, "bad_request (HTTP 400)") || !strings.Contains(r.stderr, "exploded") {
		t.Errorf("runs list with an unknown status: exit %d %q", r.code, r.stderr)
	}

	// The Idempotency-Key of an invocation can be set: the same key replays
	// the first answer instead of starting a second run.
	var first, second struct{ ID string }
	_ = json.Unmarshal([]byte(c.ok("flows", "run", "cli-etl", "--idempotency-key", "cli-once", "-o", "json")), &first)
	_ = json.Unmarshal([]byte(c.ok("flows", "run", "cli-etl", "--idempotency-key", "cli-once", "-o", "json")), &second)
	if first.ID == "" || first.ID != second.ID {
		t.Errorf("same Idempotency-Key started runs %q and %q", first.ID, second.ID)
	}

	out = c.ok("backfill", "create", "--definition", "cli-etl", "--from", "2026-01-01", "--to", "2026-01-03", "--dry-run")
	wantLines(t, "backfill --dry-run", out, "dry run: 3 runs (9 node runs) of version 2", "2026-01-01 2026-01-02 2026-01-03")
	out = c.ok("cron", "next", "0 30 22 * * ?", "--tz", "Asia/Shanghai", "-n", "3")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.HasSuffix(lines[0], "T22:30:00+08:00") {
		t.Errorf("cron next: %q", out)
	}
	wantLines(t, "workers", c.ok("workers"), "itest-1", "default")
	wantLines(t, "audit", c.ok("audit", "--limit", "5"), "admin", "POST")

	// Usage errors are exit 2 and reach no server.
	if r := c.run("runs", "node", id, "load", "explode"); r.code != 2 {
		t.Errorf("unknown node operation: exit %d", r.code)
	}
}
