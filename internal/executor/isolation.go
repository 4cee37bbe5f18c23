package executor

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Isolation is how a worker confines its shell tasks. The zero value runs
// them as the worker's own user and tracks their processes by process tree.
type Isolation struct {
	// User is who shell tasks run as; nil means the worker's own user.
	User *TaskUser
	// CgroupParent is a cgroup v2 directory under which every shell
	// instance gets a cgroup of its own; "" tracks processes by process
	// group, marker and parent links instead.
	CgroupParent string
	// EnvAllow names further variables of the worker's environment that
	// tasks see (JAVA_HOME, HADOOP_CONF_DIR, ...). Variables not named here
	// or in the base list never reach a task: the worker's environment holds
	// the database DSN and tokens.
	EnvAllow []string
	// cgroupNote says why Setup fell back from cgroups, for Warnings.
	cgroupNote string
}

// TaskUser is an unprivileged account shell tasks run as.
type TaskUser struct {
	Name     string
	UID, GID uint32
	Groups   []uint32 // supplementary groups; none is none, not the worker's
	Home     string   // "" when the account has no usable home
}

// CgroupAuto and CgroupOff are the special values of the cgroup setting.
const (
	CgroupAuto = "auto"
	CgroupOff  = "off"
)

// Setup resolves a worker's isolation settings: userSpec is "" (none), a
// user name or "uid:gid"; cgroup is CgroupAuto, CgroupOff or a cgroup v2
// directory to create instance cgroups under. With CgroupAuto a machine
// without a usable cgroup v2 falls back to process-tree tracking and
// Warnings says so; an explicit directory that cannot be used is an error.
func Setup(userSpec, cgroup string, envAllow []string) (Isolation, error) {
	iso := Isolation{EnvAllow: envAllow}
	u, err := ResolveTaskUser(userSpec)
	if err != nil {
		return iso, err
	}
	if u != nil {
		if err := canSwitchUser(); err != nil {
			return iso, err
		}
	}
	iso.User = u
	switch cgroup {
	case CgroupOff:
		iso.cgroupNote = "BATON_TASK_CGROUP=off"
	case "", CgroupAuto:
		parent, err := defaultCgroupParent()
		if err != nil {
			iso.cgroupNote = err.Error()
		} else {
			iso.CgroupParent = parent
		}
	default:
		if err := prepareCgroupParent(cgroup); err != nil {
			return iso, fmt.Errorf("BATON_TASK_CGROUP: %w", err)
		}
		iso.CgroupParent = cgroup
	}
	return iso, nil
}

// Warnings are plain sentences for the operator about what this isolation
// does not protect; empty when tasks run as an unprivileged user in cgroups.
func (iso Isolation) Warnings() []string {
	var out []string
	if iso.User == nil {
		who := "the server's own user"
		if os.Geteuid() == 0 {
			who = "root, the server's own user"
		}
		out = append(out, "shell tasks run as "+who+" (BATON_TASK_USER is not set): a task can read and change "+
			"everything this process can, including the data dir, the admin token and the database")
	}
	if iso.CgroupParent == "" {
		out = append(out, "no cgroup v2 for task processes ("+iso.cgroupNote+"): a stop finds a task's processes by "+
			"process group, marker and parent links, and a process that detaches from all three between two scans "+
			"is not found")
	}
	return out
}

// ResolveTaskUser reads a BATON_TASK_USER value: "" (nil), a user name of
// this machine, or "uid:gid". Root is refused: running tasks as root
// isolates nothing.
func ResolveTaskUser(spec string) (*TaskUser, error) {
	if spec == "" {
		return nil, nil
	}
	var tu TaskUser
	if us, gs, ok := strings.Cut(spec, ":"); ok {
		uid, err1 := strconv.ParseUint(us, 10, 32)
		gid, err2 := strconv.ParseUint(gs, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("BATON_TASK_USER: %q is not a user name or uid:gid", spec)
		}
		tu = TaskUser{Name: us, UID: uint32(uid), GID: uint32(gid)}
		if u, err := user.LookupId(us); err == nil {
			tu.Name, tu.Home = u.Username, u.HomeDir
		}
	} else {
		u, err := user.Lookup(spec)
		if err != nil {
			return nil, fmt.Errorf("BATON_TASK_USER: %w", err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("BATON_TASK_USER: user %s has no numeric uid/gid", spec)
		}
		tu = TaskUser{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: u.HomeDir}
		gids, err := u.GroupIds()
		if err == nil {
			for _, g := range gids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil && uint32(n) != tu.GID {
					tu.Groups = append(tu.Groups, uint32(n))
				}
			}
		}
	}
	if tu.UID == 0 {
		return nil, fmt.Errorf("BATON_TASK_USER: %q is root; name an unprivileged user", spec)
	}
	if fi, err := os.Stat(tu.Home); err != nil || !fi.IsDir() {
		tu.Home = "" // "/nonexistent" and the like: the work dir stands in
	}
	return &tu, nil
}

// Capability bits of capabilities(7) a worker needs to hand work dirs to
// the task user and start its processes as that user.
const (
	capChown  = 0
	capSetgid = 6
	capSetuid = 7
)

// canSwitchUser checks this process's effective capabilities, so that a
// worker that cannot run tasks as the task user refuses to start instead
// of failing every shell instance with EPERM.
func canSwitchUser() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("BATON_TASK_USER: read capabilities: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			return fmt.Errorf("BATON_TASK_USER: read capabilities: %w", err)
		}
		for _, c := range []struct {
			bit  uint
			name string
		}{{capSetuid, "CAP_SETUID"}, {capSetgid, "CAP_SETGID"}, {capChown, "CAP_CHOWN"}} {
			if caps&(1<<c.bit) == 0 {
				return fmt.Errorf("BATON_TASK_USER: switching to the task user needs root or %s, which this process (uid %d) lacks",
					c.name, os.Geteuid())
			}
		}
		return nil
	}
	return errors.New("BATON_TASK_USER: no CapEff line in /proc/self/status")
}

// baseEnv are the worker variables every task sees: what a shell needs to
// find programs and format text, nothing that identifies or authorises the
// worker.
var baseEnv = []string{"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR"}

const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// taskEnv builds a shell instance's environment from an allowlist of the
// worker's variables, the task user's identity and the instance's BATON_*
// variables. A BATON_* name is never passed through, even if allowed.
func taskEnv(req Request, outputsPath, dir, marker string) []string {
	allowed := map[string]bool{}
	for _, n := range append(append([]string(nil), baseEnv...), req.Isolation.EnvAllow...) {
		allowed[n] = true
	}
	var env []string
	seen := map[string]bool{}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "BATON_") || (!allowed[name] && !strings.HasPrefix(name, "LC_")) {
			continue
		}
		seen[name] = true
		env = append(env, kv)
	}
	if !seen["PATH"] {
		env = append(env, "PATH="+defaultPath)
	}
	home, name := os.Getenv("HOME"), os.Getenv("USER")
	if u := req.Isolation.User; u != nil {
		home, name = u.Home, u.Name
		if home == "" {
			home = dir
		}
	}
	if home != "" {
		env = append(env, "HOME="+home)
	}
	if name != "" {
		env = append(env, "USER="+name, "LOGNAME="+name)
	}
	env = append(env, "PWD="+dir)
	env = append(env, Environment(req, outputsPath)...)
	return append(env, MarkerVar+"="+marker)
}

// PrepareWorkRoot creates the parent of a worker's task working
// directories: 0700 and, with a task user, owned by that user, whose
// parents the task user can traverse. Workers call it at start to fail
// early; every instance calls it again, so a root changed since is fixed.
func PrepareWorkRoot(root string, u *TaskUser) error {
	// Parents stay traversable (a shared $TMPDIR/baton-work holds the
	// roots of several workers); the root itself is private.
	if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
		return fmt.Errorf("create work root: %w", err)
	}
	if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create work root: %w", err)
	}
	// The root may predate this worker (made 0755 by an older one, or by
	// hand): tighten it every time rather than trust it.
	if err := os.Chmod(root, 0o700); err != nil {
		return fmt.Errorf("work root mode: %w", err)
	}
	if u == nil {
		return nil
	}
	if err := chownTo(root, u); err != nil {
		return fmt.Errorf("work root owner: %w", err)
	}
	return reachable(filepath.Dir(root), u)
}

// makeWorkDir creates an instance's working directory under root, 0700
// and owned by the task user if there is one: other users of the machine
// see nothing of a task's files.
func makeWorkDir(root string, u *TaskUser) (string, error) {
	if root == "" {
		root = filepath.Join(os.TempDir(), "baton-work")
	}
	if err := PrepareWorkRoot(root, u); err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp(root, "baton-")
	if err != nil {
		return "", fmt.Errorf("create working directory: %w", err)
	}
	if err := chownTo(dir, u); err != nil {
		_ = os.Remove(dir)
		return "", fmt.Errorf("working directory owner: %w", err)
	}
	return dir, nil
}

// reachable checks that u may traverse dir and every directory above it,
// so that a task fails with a message naming the culprit rather than with
// the shell's "can't cd".
func reachable(dir string, u *TaskUser) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("work root: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		perm := fi.Mode().Perm()
		canPass := perm&0o001 != 0 || (ok && st.Uid == u.UID && perm&0o100 != 0) ||
			(ok && inGroup(st.Gid, u) && perm&0o010 != 0)
		if !canPass {
			return fmt.Errorf("task user %s cannot reach the work root: %s is mode %o (BATON_TASK_WORK_DIR)", u.Name, d, perm)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func inGroup(gid uint32, u *TaskUser) bool {
	if gid == u.GID {
		return true
	}
	for _, g := range u.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// writeTaskFile writes a file the task must own (its outputs, its script).
func writeTaskFile(path string, data []byte, u *TaskUser) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return chownTo(path, u)
}

func chownTo(path string, u *TaskUser) error {
	if u == nil {
		return nil
	}
	return os.Lchown(path, int(u.UID), int(u.GID))
}
