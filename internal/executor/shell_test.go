package executor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// syncBuffer is a Log that tests may read while Execute writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls the log until it contains want.
func (b *syncBuffer) waitFor(t *testing.T, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if s := b.String(); strings.Contains(s, want) {
			return s
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log never contained %q; log:\n%s", want, b.String())
	return ""
}

func shellTask(script string) dag.Task {
	return dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: script}}
}

func uniqueID(t *testing.T) string {
	return fmt.Sprintf("inst-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano())
}

func newReq(t *testing.T, task dag.Task, log *syncBuffer) Request {
	id := uniqueID(t)
	// Whatever the test's verdict, no process of the instance may outlive
	// it (a failing test would otherwise leave them running).
	t.Cleanup(func() {
		for _, p := range processesWithEnv("BATON_INSTANCE_ID=" + id) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
	})
	return Request{
		Task:       task,
		RunID:      "run-1",
		NodeID:     "node-1",
		InstanceID: id,
		WorkRoot:   t.TempDir(),
		Log:        log,
	}
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	st, ok := parseProcStat(b)
	return ok && st.state != 'Z' && st.state != 'X'
}

// processesWithEnv lists live processes whose environment contains kv: an
// independent check, not relying on the executor's own marker scan.
func processesWithEnv(kv string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, v := range bytes.Split(env, []byte{0}) {
			if string(v) == kv && alive(pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func assertNoneSurvive(t *testing.T, instanceID string) {
	t.Helper()
	if pids := processesWithEnv("BATON_INSTANCE_ID=" + instanceID); len(pids) > 0 {
		for _, p := range pids {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		t.Fatalf("processes of the instance survived Execute: %v", pids)
	}
}

func TestShellSuccessOutputsAndStreams(t *testing.T) {
	log := &syncBuffer{}
	req := newReq(t, shellTask(`
echo to-stdout
echo to-stderr >&2
cat > "$BATON_OUTPUTS" <<'EOF'
# a comment
  rows = 42
url=https://x/?a=b=c

   # indented comment
not a pair
empty=
EOF
`), log)
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceSuccess || res.ExitCode != 0 {
		t.Fatalf("result = %+v, want success/0; log:\n%s", res, log)
	}
	want := map[string]string{"rows": " 42", "url": "https://x/?a=b=c", "empty": ""}
	if fmt.Sprint(res.Outputs) != fmt.Sprint(want) {
		t.Errorf("outputs = %q, want %q", res.Outputs, want)
	}
	out := log.String()
	for _, s := range []string{"to-stdout", "to-stderr", "ignored 1 line(s)"} {
		if !strings.Contains(out, s) {
			t.Errorf("log lacks %q:\n%s", s, out)
		}
	}
	assertWorkRootEmpty(t, req.WorkRoot)
}

func assertWorkRootEmpty(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("working directory not removed: %v", entries)
	}
}

func TestShellExitCodeFails(t *testing.T) {
	log := &syncBuffer{}
	res := Execute(context.Background(), newReq(t, shellTask("echo partial=1 >> \"$BATON_OUTPUTS\"; exit 3"), log))
	if res.Status != status.InstanceFailed || res.ExitCode != 3 || res.Message != "exit status 3" {
		t.Fatalf("result = %+v, want failed/3/\"exit status 3\"", res)
	}
	if res.Outputs["partial"] != "1" {
		t.Errorf("outputs of a failed instance lost: %v", res.Outputs)
	}
}

func TestShellInterpreterAndStartFailure(t *testing.T) {
	task := shellTask(`[[ "abc" == a* ]] && echo bash-only`)
	task.Shell.Shell = "/bin/bash"
	log := &syncBuffer{}
	if res := Execute(context.Background(), newReq(t, task, log)); res.Status != status.InstanceSuccess || !strings.Contains(log.String(), "bash-only") {
		t.Fatalf("bash interpreter: %+v, log %q", res, log)
	}
	task.Shell.Shell = "/nonexistent/shell"
	res := Execute(context.Background(), newReq(t, task, &syncBuffer{}))
	if res.Status != status.InstanceFailed || res.ExitCode != -1 || !strings.Contains(res.Message, "/nonexistent/shell") {
		t.Fatalf("missing interpreter: %+v", res)
	}
}

func TestShellLargeScript(t *testing.T) {
	// Past the kernel's 128 KiB per-argument limit "sh -c" would fail.
	var b strings.Builder
	for b.Len() < 200<<10 {
		b.WriteString(": padding line that does nothing at all\n")
	}
	b.WriteString("echo big-script-ran\n")
	log := &syncBuffer{}
	res := Execute(context.Background(), newReq(t, shellTask(b.String()), log))
	if res.Status != status.InstanceSuccess || !strings.Contains(log.String(), "big-script-ran") {
		t.Fatalf("result = %+v; log %q", res, log)
	}
}

func TestShellEnvironment(t *testing.T) {
	t.Setenv("BATON_DB_DSN", "mysql://secret")
	t.Setenv("BATON_ADMIN_TOKEN", "admin-secret")
	t.Setenv("BATON_OTHER_WORKER_SETTING", "worker-only")
	t.Setenv("EXECUTOR_TEST_INHERITED", "inherited")
	t.Setenv("EXECUTOR_TEST_NOT_ALLOWED", "not-allowed")
	t.Setenv("LC_TIME", "C")
	task := shellTask(`
test -f "$BATON_OUTPUTS" && test ! -s "$BATON_OUTPUTS" || { echo "outputs file missing or not empty"; exit 9; }
[ "$(pwd -P)" = "$(cd "$(dirname "$BATON_OUTPUTS")" && pwd -P)" ] || { echo "cwd is not the working dir"; exit 8; }
env > "$BATON_OUTPUTS"
`)
	task.Params = map[string]string{"from_task": "task-default", "x": "overridden"}
	log := &syncBuffer{}
	req := newReq(t, task, log)
	req.Bizdate = "2024-05-06"
	req.Attempt = 2
	req.ShardIndex = 3
	req.ShardTotal = 4
	req.ShardParam = "shard-d"
	req.Isolation.EnvAllow = []string{"EXECUTOR_TEST_INHERITED", "BATON_ADMIN_TOKEN"}
	req.Params = map[string]string{"x": "1", "my-param.v2": "dashed", "region": "cn"}
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v; log:\n%s", res, log)
	}
	want := map[string]string{
		"BATON_RUN_ID":            "run-1",
		"BATON_NODE_ID":           "node-1",
		"BATON_INSTANCE_ID":       req.InstanceID,
		"BATON_ATTEMPT":           "2",
		"BATON_BIZDATE":           "2024-05-06",
		"BATON_SHARD_INDEX":       "3",
		"BATON_SHARD_TOTAL":       "4",
		"BATON_SHARD_PARAM":       "shard-d",
		"BATON_PARAM_X":           "1",
		"BATON_PARAM_MY_PARAM_V2": "dashed",
		"BATON_PARAM_REGION":      "cn",
		"BATON_PARAM_FROM_TASK":   "task-default",
		"EXECUTOR_TEST_INHERITED": "inherited",
	}
	for k, v := range want {
		if got, ok := res.Outputs[k]; !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
	outputs := res.Outputs["BATON_OUTPUTS"]
	if !strings.HasPrefix(outputs, req.WorkRoot+"/") || filepath.Base(outputs) != OutputsFile {
		t.Errorf("BATON_OUTPUTS = %q, want a file in a working dir under %s", outputs, req.WorkRoot)
	}
	for _, secret := range []string{"BATON_DB_DSN", "BATON_ADMIN_TOKEN", "BATON_OTHER_WORKER_SETTING"} {
		if v, ok := res.Outputs[secret]; ok {
			t.Errorf("worker variable %s leaked into the script: %q", secret, v)
		}
	}
	// Only the allowlist and what a shell sets itself get through.
	allowed := map[string]bool{"PATH": true, "LANG": true, "LANGUAGE": true, "TZ": true, "TMPDIR": true,
		"HOME": true, "USER": true, "LOGNAME": true, "PWD": true, "OLDPWD": true, "SHLVL": true, "_": true,
		"EXECUTOR_TEST_INHERITED": true}
	for k := range res.Outputs {
		if !strings.HasPrefix(k, "BATON_") && !strings.HasPrefix(k, "LC_") && !allowed[k] {
			t.Errorf("worker variable %s reached the script without being allowed", k)
		}
	}
	if res.Outputs["LC_TIME"] != "C" || res.Outputs["PATH"] == "" {
		t.Errorf("LC_TIME = %q, PATH = %q: the base allowlist did not get through", res.Outputs["LC_TIME"], res.Outputs["PATH"])
	}
	for k, v := range res.Outputs {
		if strings.Contains(v, "secret") {
			t.Errorf("a secret leaked via %s=%q", k, v)
		}
	}
	// Environment is the documented list: every BATON_* the script saw
	// except the marker must be in it, and vice versa.
	doc := map[string]bool{}
	for _, kv := range Environment(req, outputs) {
		doc[kv] = true
	}
	for k, v := range res.Outputs {
		if strings.HasPrefix(k, "BATON_") && k != MarkerVar && !doc[k+"="+v] {
			t.Errorf("script saw %s=%q, which Environment does not list", k, v)
		}
	}
	if len(doc) != len(want)-1+1 { // minus the inherited var, plus BATON_OUTPUTS
		t.Errorf("Environment has %d entries, want %d: %v", len(doc), len(want), doc)
	}
}

func TestParamVar(t *testing.T) {
	for in, want := range map[string]string{
		"region":   "BATON_PARAM_REGION",
		"my-param": "BATON_PARAM_MY_PARAM",
		"a.b c":    "BATON_PARAM_A_B_C",
		"日期":       "BATON_PARAM___",
		"x9":       "BATON_PARAM_X9",
	} {
		if got := ParamVar(in); got != want {
			t.Errorf("ParamVar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShellParamsAreNeverInterpolated(t *testing.T) {
	values := []string{
		"$(touch injected)",
		"`touch injected2`",
		"'; touch injected3; '",
		"\"; touch injected4; \"\nsecond line\n\nthird \"quoted\" line\n",
		"${IFS}$(touch${IFS}injected5)|touch injected6&&touch injected7;",
		"%s %d \\n \\\\ $BATON_RUN_ID * ?",
		"trailing newline\n",
		"bytes \xff\xfe not utf-8",
	}
	dest := t.TempDir()
	params := map[string]string{"dest": dest}
	var script strings.Builder
	for i, v := range values {
		name := fmt.Sprintf("v%d", i)
		params[name] = v
		fmt.Fprintf(&script, "printf '%%s' \"$BATON_PARAM_V%d\" > \"$BATON_PARAM_DEST/%d.out\"\n", i, i)
		// An unquoted use too, still no evaluation of the value.
		fmt.Fprintf(&script, "echo $BATON_PARAM_V%d >/dev/null\n", i)
	}
	script.WriteString(`ls -A > "$BATON_PARAM_DEST/listing"` + "\n")
	req := newReq(t, shellTask(script.String()), &syncBuffer{})
	req.Params = params
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v", res)
	}
	for i, v := range values {
		got, err := os.ReadFile(filepath.Join(dest, fmt.Sprintf("%d.out", i)))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != v {
			t.Errorf("value %d arrived as %q, want %q", i, got, v)
		}
	}
	listing, err := os.ReadFile(filepath.Join(dest, "listing"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(listing), "injected") {
		t.Errorf("a param was executed: working dir holds\n%s", listing)
	}
	cwd, _ := os.Getwd()
	for _, dir := range []string{cwd, dest, req.WorkRoot} {
		if m, _ := filepath.Glob(filepath.Join(dir, "injected*")); len(m) > 0 {
			t.Errorf("a param was executed: %v", m)
		}
	}
}

func TestShellTimeout(t *testing.T) {
	task := shellTask("echo started; sleep 30")
	task.Timeout = "1s"
	task.Grace = "1s"
	log := &syncBuffer{}
	req := newReq(t, task, log)
	start := time.Now()
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceTimeout || !strings.HasPrefix(res.Message, "timed out after 1s") {
		t.Fatalf("result = %+v, want timeout", res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	assertNoneSurvive(t, req.InstanceID)
}

// runUntil starts Execute in the background, waits for ready in the log,
// cancels and returns the result.
func stopAfter(t *testing.T, req Request, log *syncBuffer, ready string) (Result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan Result, 1)
	go func() { done <- Execute(ctx, req) }()
	log.waitFor(t, ready, 10*time.Second)
	start := time.Now()
	cancel()
	select {
	case res := <-done:
		return res, time.Since(start)
	case <-time.After(30 * time.Second):
		t.Fatal("Execute did not return after cancellation")
		return Result{}, 0
	}
}

func TestStopTrappedTermIsClean(t *testing.T) {
	task := shellTask(`trap 'echo got term; exit 0' TERM; echo ready; while true; do sleep 0.1; done`)
	task.Grace = "5s"
	log := &syncBuffer{}
	req := newReq(t, task, log)
	res, took := stopAfter(t, req, log, "ready")
	if res.Status != status.InstanceStopped || res.Message != "stopped with SIGTERM" {
		t.Fatalf("result = %+v, want stopped with SIGTERM; log:\n%s", res, log)
	}
	if res.ExitCode != 0 {
		t.Errorf("exit code = %d, want the trap's 0", res.ExitCode)
	}
	if took >= 5*time.Second {
		t.Errorf("stop took %s, not within the grace period", took)
	}
	if !strings.Contains(log.String(), "got term") {
		t.Errorf("trap output missing from log:\n%s", log)
	}
	assertNoneSurvive(t, req.InstanceID)
}

func TestStopIgnoredTermIsKilled(t *testing.T) {
	task := shellTask(`trap '' TERM; echo ready; while true; do sleep 0.1; done`)
	task.Grace = "1s"
	log := &syncBuffer{}
	req := newReq(t, task, log)
	res, took := stopAfter(t, req, log, "ready")
	if res.Status != status.InstanceStopped || !strings.Contains(res.Message, "SIGKILL") || res.ExitCode != -1 {
		t.Fatalf("result = %+v, want stopped by SIGKILL; log:\n%s", res, log)
	}
	if took < time.Second {
		t.Errorf("killed after %s, before the 1s grace", took)
	}
	assertNoneSurvive(t, req.InstanceID)
}

func TestTimeoutIgnoredTermIsKilled(t *testing.T) {
	task := shellTask(`trap '' TERM; while true; do sleep 0.1; done`)
	task.Grace = "1s"
	task.Timeout = "500ms"
	req := newReq(t, task, &syncBuffer{})
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceTimeout || res.Message != "timed out after 500ms, killed with SIGKILL after 1s grace" {
		t.Fatalf("result = %+v", res)
	}
	assertNoneSurvive(t, req.InstanceID)
}

const escapeScript = `setsid sh -c 'echo $$ > escaped.pid; exec sleep 300' &
while [ ! -s escaped.pid ]; do sleep 0.05; done
echo "ready pid=$(cat escaped.pid)."
`

func escapedPid(t *testing.T, log string) int {
	t.Helper()
	_, rest, ok := strings.Cut(log, "ready pid=")
	if !ok {
		t.Fatalf("no pid in log %q", log)
	}
	s, _, _ := strings.Cut(rest, ".")
	pid, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestStopWithEscapedChildIsStopFailed(t *testing.T) {
	task := shellTask(escapeScript + `while true; do sleep 0.1; done`)
	task.Grace = "2s"
	log := &syncBuffer{}
	req := newReq(t, task, log)
	res, _ := stopAfter(t, req, log, "ready pid=")
	pid := escapedPid(t, log.String())
	if res.Status != status.InstanceStopFailed {
		t.Fatalf("result = %+v, want stop_failed; log:\n%s", res, log)
	}
	if !strings.Contains(res.Message, fmt.Sprintf("pid %d", pid)) {
		t.Errorf("message %q does not name the escaped pid %d", res.Message, pid)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("escaped pid %d still alive", pid)
	}
	assertNoneSurvive(t, req.InstanceID)
}

func TestLeftoversKilledOnNormalExit(t *testing.T) {
	t.Run("background child in the group", func(t *testing.T) {
		req := newReq(t, shellTask(`sleep 300 & echo "ready pid=$!."`), &syncBuffer{})
		log := req.Log.(*syncBuffer)
		start := time.Now()
		res := Execute(context.Background(), req)
		if res.Status != status.InstanceSuccess {
			t.Fatalf("result = %+v", res)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Execute waited %s for the background child", d)
		}
		if pid := escapedPid(t, log.String()); alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("background child %d outlived the instance", pid)
		}
		assertNoneSurvive(t, req.InstanceID)
	})
	t.Run("escaped child", func(t *testing.T) {
		req := newReq(t, shellTask(escapeScript+"exit 0"), &syncBuffer{})
		log := req.Log.(*syncBuffer)
		res := Execute(context.Background(), req)
		pid := escapedPid(t, log.String())
		if res.Status != status.InstanceSuccess || !strings.Contains(res.Message, fmt.Sprintf("pid %d", pid)) {
			t.Fatalf("result = %+v, want success naming the killed pid %d", res, pid)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("escaped child %d outlived the instance", pid)
		}
		assertNoneSurvive(t, req.InstanceID)
	})
}

func TestLogStreamsWhileRunning(t *testing.T) {
	log := &syncBuffer{}
	req := newReq(t, shellTask("echo first-line; sleep 3; echo second-line"), log)
	var returned atomic.Bool
	done := make(chan Result, 1)
	go func() {
		res := Execute(context.Background(), req)
		returned.Store(true)
		done <- res
	}()
	log.waitFor(t, "first-line", 2500*time.Millisecond)
	if returned.Load() {
		t.Fatal("first line only seen after Execute returned")
	}
	if strings.Contains(log.String(), "second-line") {
		t.Fatal("second line already there: the script did not sleep?")
	}
	if res := <-done; res.Status != status.InstanceSuccess || !strings.Contains(log.String(), "second-line") {
		t.Fatalf("result = %+v, log %q", res, log)
	}
}

func TestOutputsHostileFiles(t *testing.T) {
	t.Run("symlink to a secret", func(t *testing.T) {
		secret := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(secret, []byte("password=hunter2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		req := newReq(t, shellTask(`rm "$BATON_OUTPUTS"; ln -s "$BATON_PARAM_SECRET" "$BATON_OUTPUTS"`), &syncBuffer{})
		req.Params = map[string]string{"secret": secret}
		res := Execute(context.Background(), req)
		if res.Status != status.InstanceSuccess || res.Outputs["password"] != "" {
			t.Fatalf("result = %+v", res)
		}
	})
	t.Run("fifo", func(t *testing.T) {
		req := newReq(t, shellTask(`rm "$BATON_OUTPUTS"; mkfifo "$BATON_OUTPUTS"`), &syncBuffer{})
		done := make(chan Result, 1)
		go func() { done <- Execute(context.Background(), req) }()
		select {
		case res := <-done:
			if res.Status != status.InstanceSuccess || res.Outputs != nil {
				t.Fatalf("result = %+v", res)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO as outputs hung")
		}
	})
	t.Run("over the cap", func(t *testing.T) {
		// 2,000 lines of 40 bytes = 80,000 bytes > 64 KiB.
		req := newReq(t, shellTask(`i=0; while [ $i -lt 2000 ]; do printf 'key%05d=%030d\n' $i 0; i=$((i+1)); done > "$BATON_OUTPUTS"`), &syncBuffer{})
		res := Execute(context.Background(), req)
		if res.Status != status.InstanceSuccess {
			t.Fatalf("result = %+v", res)
		}
		if n := len(res.Outputs); n != MaxOutputsBytes/40 {
			t.Errorf("%d outputs kept, want the %d whole lines within 64 KiB", n, MaxOutputsBytes/40)
		}
		if _, ok := res.Outputs["key01999"]; ok {
			t.Error("a line past the cap was kept")
		}
		if !strings.Contains(req.Log.(*syncBuffer).String(), "outputs truncated") {
			t.Error("truncation not noted in the log")
		}
	})
	t.Run("unremovable working dir", func(t *testing.T) {
		req := newReq(t, shellTask(`mkdir -p a/b && touch a/b/f && chmod 0 a/b a`), &syncBuffer{})
		if res := Execute(context.Background(), req); res.Status != status.InstanceSuccess {
			t.Fatalf("result = %+v", res)
		}
		assertWorkRootEmpty(t, req.WorkRoot)
	})
}

func TestNoopAndSleep(t *testing.T) {
	if res := Execute(context.Background(), Request{Task: dag.Task{Kind: dag.KindNoop}}); res.Status != status.InstanceSuccess || res.ExitCode != -1 {
		t.Errorf("noop = %+v", res)
	}
	sleep := func(d, timeout dag.Duration) dag.Task {
		return dag.Task{Kind: dag.KindSleep, Sleep: &dag.SleepSpec{Duration: d}, Timeout: timeout}
	}
	start := time.Now()
	if res := Execute(context.Background(), Request{Task: sleep("300ms", "")}); res.Status != status.InstanceSuccess {
		t.Errorf("sleep = %+v", res)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("sleep returned after %s", d)
	}
	start = time.Now()
	if res := Execute(context.Background(), Request{Task: sleep("1m", "300ms")}); res.Status != status.InstanceTimeout {
		t.Errorf("sleep past timeout = %+v", res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("timeout honoured only after %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if res := Execute(ctx, Request{Task: sleep("1m", "")}); res.Status != status.InstanceStopped {
		t.Errorf("cancelled sleep = %+v", res)
	}
}

func TestBadTasksFail(t *testing.T) {
	for name, task := range map[string]dag.Task{
		"no kind":       {},
		"unknown kind":  {Kind: "ftp"},
		"shell no spec": {Kind: dag.KindShell},
		"sleep no spec": {Kind: dag.KindSleep},
		"sleep bad":     {Kind: dag.KindSleep, Sleep: &dag.SleepSpec{Duration: "soon"}},
		"bad timeout":   {Kind: dag.KindNoop, Timeout: "ten minutes"},
		"bad grace":     {Kind: dag.KindNoop, Grace: "-1s"},
		"http no spec":  {Kind: dag.KindHTTP},
	} {
		res := Execute(context.Background(), Request{Task: task, WorkRoot: t.TempDir()})
		if res.Status != status.InstanceFailed || res.Message == "" {
			t.Errorf("%s: %+v, want failed with a message", name, res)
		}
	}
}

func TestCancelledBeforeStartRunsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	req := newReq(t, shellTask("touch "+marker), &syncBuffer{})
	if res := Execute(ctx, req); res.Status != status.InstanceStopped {
		t.Fatalf("result = %+v", res)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the script ran although ctx was already cancelled")
	}
}

func TestHeartbeat(t *testing.T) {
	old := heartbeatInterval
	heartbeatInterval = 100 * time.Millisecond
	defer func() { heartbeatInterval = old }()
	var beats atomic.Int64
	req := newReq(t, shellTask("sleep 1"), &syncBuffer{})
	req.Heartbeat = func() { beats.Add(1) }
	if res := Execute(context.Background(), req); res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v", res)
	}
	n := beats.Load()
	if n < 5 {
		t.Errorf("%d heartbeats during a 1s script at a 100ms interval", n)
	}
	time.Sleep(300 * time.Millisecond)
	if after := beats.Load(); after != n {
		t.Errorf("heartbeats continued after Execute returned: %d -> %d", n, after)
	}
}
