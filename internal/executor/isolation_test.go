package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/baton-sched/baton/internal/status"
)

// taskUser is the unprivileged account the isolation tests run tasks as;
// they need root to switch to it.
func taskUser(t *testing.T) *TaskUser {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running a task as another user needs root (CAP_SETUID); this test runs as uid " + strconv.Itoa(os.Geteuid()))
	}
	u, err := ResolveTaskUser("nobody")
	if err != nil {
		if u, err = ResolveTaskUser("65534:65534"); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// userWorkRoot is a work root the task user can reach: t.TempDir() is
// 0700 root, which is the point of the isolation but no place for a task.
func userWorkRoot(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "baton-isolation-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(parent) })
	return filepath.Join(parent, "work")
}

// secretsScript tries to read what a task must not: the admin token, the
// database, the worker's environment through /proc, and its own
// environment. Each line says "<what>=read" or "<what>=denied".
const secretsScript = `
try() { if cat "$2" >/dev/null 2>&1; then echo "$1=read"; else echo "$1=denied"; fi; }
try token "$BATON_PARAM_TOKEN" >> "$BATON_OUTPUTS"
try db "$BATON_PARAM_DB" >> "$BATON_OUTPUTS"
try environ "/proc/$BATON_PARAM_WORKER/environ" >> "$BATON_OUTPUTS"
if echo "test" > "$BATON_PARAM_DB" 2>/dev/null; then echo "dbwrite=read"; else echo "dbwrite=denied"; fi >> "$BATON_OUTPUTS"
if env | grep -q hunter2; then echo "ownenv=read"; else echo "ownenv=denied"; fi >> "$BATON_OUTPUTS"
echo "uid=$(id -u)" >> "$BATON_OUTPUTS"
`

// secretFixture lays out a data dir the way baton dev does (0700, files
// 0600) and puts a password in the worker's environment.
func secretFixture(t *testing.T) (token, db string) {
	t.Helper()
	t.Setenv("BATON_DB_DSN", "baton:hunter2@tcp(db:3306)/baton")
	t.Setenv("SOME_TOKEN", "hunter2")
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	token, db = filepath.Join(data, "admin-token"), filepath.Join(data, "baton.db")
	for _, p := range []string{token, db} {
		if err := os.WriteFile(p, []byte("hunter2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return token, db
}

func TestTaskUserCannotReadSecrets(t *testing.T) {
	u := taskUser(t)
	token, db := secretFixture(t)
	params := map[string]string{"token": token, "db": db, "worker": strconv.Itoa(os.Getpid())}
	run := func(t *testing.T, iso Isolation, root string) map[string]string {
		req := newReq(t, shellTask(secretsScript), &syncBuffer{})
		req.Params, req.Isolation, req.WorkRoot = params, iso, root
		res := Execute(context.Background(), req)
		if res.Status != status.InstanceSuccess {
			t.Fatalf("result = %+v; log:\n%s", res, req.Log)
		}
		return res.Outputs
	}
	// The control: as the worker's own user (root) the same script reads
	// everything but its own environment, so the checks below can fail.
	t.Run("worker's own user", func(t *testing.T) {
		out := run(t, Isolation{}, t.TempDir())
		for _, k := range []string{"token", "db", "environ", "dbwrite"} {
			if out[k] != "read" {
				t.Errorf("%s = %q as root: the fixture does not test what it should", k, out[k])
			}
		}
		if out["ownenv"] != "denied" {
			t.Errorf("the task's own environment holds the worker's secret: %v", out)
		}
	})
	t.Run("task user", func(t *testing.T) {
		if err := os.WriteFile(db, []byte("hunter2\n"), 0o600); err != nil { // the control wrote to it
			t.Fatal(err)
		}
		out := run(t, Isolation{User: u}, userWorkRoot(t))
		if out["uid"] != strconv.Itoa(int(u.UID)) {
			t.Fatalf("task ran as uid %q, want %d", out["uid"], u.UID)
		}
		for _, k := range []string{"token", "db", "environ", "dbwrite", "ownenv"} {
			if out[k] != "denied" {
				t.Errorf("%s = %q: the task user got at a secret", k, out[k])
			}
		}
		if b, _ := os.ReadFile(db); string(b) != "hunter2\n" {
			t.Errorf("database file changed to %q", b)
		}
	})
}

func TestTaskUserWorkDir(t *testing.T) {
	u := taskUser(t)
	root := userWorkRoot(t)
	// A root left 0755 by an older version is tightened, not trusted.
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	task := shellTask(`
echo "cwd=$(stat -c '%a %u:%g' .)" >> "$BATON_OUTPUTS"
echo "outputs=$(stat -c '%a %u' "$BATON_OUTPUTS")" >> "$BATON_OUTPUTS"
echo "home=$HOME" >> "$BATON_OUTPUTS"
echo "user=$USER" >> "$BATON_OUTPUTS"
`)
	req := newReq(t, task, &syncBuffer{})
	req.Isolation, req.WorkRoot = Isolation{User: u}, root
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v; log:\n%s", res, req.Log)
	}
	if want := fmt.Sprintf("700 %d:%d", u.UID, u.GID); res.Outputs["cwd"] != want {
		t.Errorf("work dir is %q, want %q", res.Outputs["cwd"], want)
	}
	if want := fmt.Sprintf("600 %d", u.UID); res.Outputs["outputs"] != want {
		t.Errorf("outputs file is %q, want %q", res.Outputs["outputs"], want)
	}
	if u.Home == "" && !strings.HasPrefix(res.Outputs["home"], root+"/") {
		t.Errorf("HOME = %q: the user has no home, want the work dir", res.Outputs["home"])
	}
	if res.Outputs["user"] != u.Name {
		t.Errorf("USER = %q, want %q", res.Outputs["user"], u.Name)
	}
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o700 || st.Uid != u.UID {
		t.Errorf("work root is %o uid %d, want 700 uid %d", fi.Mode().Perm(), st.Uid, u.UID)
	}

	t.Run("unreachable root", func(t *testing.T) {
		// t.TempDir() is 0700 root: the task user cannot get in.
		req := newReq(t, shellTask("true"), &syncBuffer{})
		req.Isolation = Isolation{User: u}
		res := Execute(context.Background(), req)
		if res.Status != status.InstanceFailed || !strings.Contains(res.Message, "cannot reach") {
			t.Fatalf("result = %+v, want a failure saying the task user cannot reach the work root", res)
		}
	})
}

func TestSetupTaskUser(t *testing.T) {
	iso, err := Setup("65534:65534", CgroupOff, nil)
	if os.Geteuid() == 0 {
		if err != nil || iso.User == nil || iso.User.UID != 65534 {
			t.Fatalf("Setup as root = %+v, %v", iso, err)
		}
		if w := strings.Join(iso.Warnings(), "\n"); strings.Contains(w, "BATON_TASK_USER") {
			t.Errorf("a task user is set, yet the warnings say otherwise: %s", w)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "CAP_SETUID") {
		t.Fatalf("Setup without the rights = %v, want a refusal naming CAP_SETUID", err)
	}
}

func TestResolveTaskUser(t *testing.T) {
	if u, err := ResolveTaskUser(""); u != nil || err != nil {
		t.Errorf(`"" = %+v, %v; want nil, nil`, u, err)
	}
	u, err := ResolveTaskUser("12345:23456")
	if err != nil || u.UID != 12345 || u.GID != 23456 {
		t.Errorf("12345:23456 = %+v, %v", u, err)
	}
	for _, bad := range []string{"root", "0:0", "0:100", "a:b", "12:", "no-such-user-here"} {
		if _, err := ResolveTaskUser(bad); err == nil || !strings.Contains(err.Error(), "BATON_TASK_USER") {
			t.Errorf("%q: err = %v, want a BATON_TASK_USER error", bad, err)
		}
	}
}

// forEachTracking runs f with a cgroup per instance (skipped where the
// machine has no writable cgroup v2) and with process-tree tracking.
func forEachTracking(t *testing.T, f func(t *testing.T, iso Isolation)) {
	t.Run("cgroup", func(t *testing.T) {
		iso, err := Setup("", CgroupAuto, nil)
		if err != nil {
			t.Fatal(err)
		}
		if iso.CgroupParent == "" {
			t.Skipf("no usable cgroup v2 here: %s", iso.cgroupNote)
		}
		f(t, iso)
	})
	t.Run("process tree", func(t *testing.T) {
		iso, err := Setup("", CgroupOff, nil)
		if err != nil {
			t.Fatal(err)
		}
		if iso.CgroupParent != "" {
			t.Fatalf("BATON_TASK_CGROUP=off still uses %s", iso.CgroupParent)
		}
		f(t, iso)
	})
}

// detachScript starts a child that leaves the process group and session
// and drops the marker; only its parent link (or the cgroup) ties it to
// the instance.
const detachScript = `setsid env -u ` + MarkerVar + ` sh -c 'echo $$ > escaped.pid; exec sleep 300' &
while [ ! -s escaped.pid ]; do sleep 0.05; done
echo "ready pid=$(cat escaped.pid)."
while true; do sleep 0.1; done
`

// orphanScript double-forks: the middle process exits, so the escapee is
// re-parented away from the instance's tree. Only the cgroup, or a tree
// sample taken while the middle process lived, still ties it to the
// instance.
const orphanScript = `setsid sh -c 'env -u ` + MarkerVar + ` sleep 300 & echo $! > escaped.pid; sleep 1' &
mid=$!
while [ ! -s escaped.pid ]; do sleep 0.05; done
wait $mid
echo "ready pid=$(cat escaped.pid)."
while true; do sleep 0.1; done
`

func TestStopFindsDetachedChild(t *testing.T) {
	for name, script := range map[string]string{"setsid child": detachScript, "double fork": orphanScript} {
		t.Run(name, func(t *testing.T) {
			forEachTracking(t, func(t *testing.T, iso Isolation) {
				task := shellTask(script)
				task.Grace = "2s"
				log := &syncBuffer{}
				req := newReq(t, task, log)
				req.Isolation = iso
				res, _ := stopAfter(t, req, log, "ready pid=")
				pid := escapedPid(t, log.String())
				if alive(pid) {
					_ = syscall.Kill(pid, syscall.SIGKILL)
					t.Fatalf("escaped pid %d survived the stop; result %+v; log:\n%s", pid, res, log)
				}
				named := strings.Contains(res.Message, fmt.Sprintf("pid %d ", pid))
				if iso.CgroupParent != "" {
					// Reached by the stop itself: a clean stop that says so.
					if res.Status != status.InstanceStopped || !named || !strings.Contains(res.Message, "cgroup") {
						t.Errorf("result = %+v, want stopped naming pid %d and the cgroup; log:\n%s", res, pid, log)
					}
					if !strings.Contains(log.String(), "left the process group but not the instance's cgroup") {
						t.Errorf("log does not say a process had left the group:\n%s", log)
					}
					assertNoCgroups(t, iso.CgroupParent, req.InstanceID)
				} else if res.Status != status.InstanceStopFailed || !named {
					t.Errorf("result = %+v, want stop_failed naming pid %d; log:\n%s", res, pid, log)
				}
			})
		})
	}
}

func TestCgroupHoldsEveryProcess(t *testing.T) {
	iso, err := Setup("", CgroupAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	if iso.CgroupParent == "" {
		t.Skipf("no usable cgroup v2 here: %s", iso.cgroupNote)
	}
	task := shellTask(`setsid sh -c 'cat /proc/self/cgroup > cg.txt; echo done > cg.done' &
while [ ! -s cg.done ]; do sleep 0.05; done
grep '^0::' cg.txt | cut -c4- > "$BATON_OUTPUTS.tmp"; echo "cg=$(cat "$BATON_OUTPUTS.tmp")" > "$BATON_OUTPUTS"
`)
	req := newReq(t, task, &syncBuffer{})
	req.Isolation = iso
	res := Execute(context.Background(), req)
	if res.Status != status.InstanceSuccess {
		t.Fatalf("result = %+v; log:\n%s", res, req.Log)
	}
	own, err := ownCgroup()
	if err != nil {
		t.Fatal(err)
	}
	if cg := res.Outputs["cg"]; !strings.HasPrefix(cg, filepath.Join(own, "baton")+"/") {
		t.Errorf("setsid child ran in cgroup %q, not in one under %s/baton", cg, own)
	}
	assertNoCgroups(t, iso.CgroupParent, req.InstanceID)
}

// assertNoCgroups checks that the instance's cgroup was removed.
func assertNoCgroups(t *testing.T, parent, instanceID string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		m, _ := filepath.Glob(filepath.Join(parent, instanceID+"-*"))
		if len(m) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("instance cgroups left behind: %v", m)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSetupCgroup(t *testing.T) {
	if _, err := Setup("", "relative/path", nil); err == nil || !strings.Contains(err.Error(), "BATON_TASK_CGROUP") {
		t.Errorf("relative cgroup: err = %v", err)
	}
	if _, err := Setup("", t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "not on a cgroup2") {
		t.Errorf("a plain directory as cgroup: err = %v", err)
	}
	iso, err := Setup("", CgroupOff, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(iso.Warnings(), "\n")
	if !strings.Contains(w, "BATON_TASK_USER is not set") || !strings.Contains(w, "BATON_TASK_CGROUP=off") {
		t.Errorf("warnings do not say tasks run with the server's privileges and without cgroups:\n%s", w)
	}
}

// BenchmarkProcessTreeSample is the cost of one sample of the fallback
// path's process tree, taken every treeInterval per running instance.
func BenchmarkProcessTreeSample(b *testing.B) {
	// pid 1 as the leader: the walk covers the whole tree, the worst case.
	r := &shellRun{pgid: 1, known: map[int]uint64{}}
	procs := len(readProcs())
	b.ReportMetric(float64(procs), "procs")
	for b.Loop() {
		r.descendants(readProcs())
	}
}

// TestTaskUserCannotLeaveCgroup: the cgroup holds a task only because the
// task user may not write to a cgroup.procs file; as root it could.
func TestTaskUserCannotLeaveCgroup(t *testing.T) {
	u := taskUser(t)
	iso, err := Setup("", CgroupAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	if iso.CgroupParent == "" {
		t.Skipf("no usable cgroup v2 here: %s", iso.cgroupNote)
	}
	// The worker's own cgroup: the obvious place to escape to.
	target := filepath.Join(filepath.Dir(iso.CgroupParent), "cgroup.procs")
	task := shellTask(`if echo $$ > "$BATON_PARAM_TARGET" 2>/dev/null; then echo left=yes; else echo left=no; fi >> "$BATON_OUTPUTS"
echo "cg=$(grep '^0::' /proc/self/cgroup | cut -c4-)" >> "$BATON_OUTPUTS"`)
	for _, tc := range []struct {
		name string
		user *TaskUser
		root string
		left string
	}{
		{"root can (the control)", nil, t.TempDir(), "yes"},
		{"task user cannot", u, userWorkRoot(t), "no"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newReq(t, task, &syncBuffer{})
			req.Params = map[string]string{"target": target}
			req.Isolation, req.WorkRoot = iso, tc.root
			req.Isolation.User = tc.user
			res := Execute(context.Background(), req)
			if res.Status != status.InstanceSuccess {
				t.Fatalf("result = %+v; log:\n%s", res, req.Log)
			}
			if res.Outputs["left"] != tc.left {
				t.Errorf("left the cgroup: %q, want %q (now in %q)", res.Outputs["left"], tc.left, res.Outputs["cg"])
			}
			assertNoCgroups(t, iso.CgroupParent, req.InstanceID)
		})
	}
}
