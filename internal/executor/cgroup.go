package executor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// cgroup2Magic is CGROUP2_SUPER_MAGIC, the f_type statfs reports for a
// cgroup v2 file system.
const cgroup2Magic = 0x63677270

// defaultCgroupParent makes "baton" under this process's own cgroup v2
// cgroup: a delegated service (systemd Delegate=yes) may create cgroups
// there, and tasks stay inside the worker's own limits.
func defaultCgroupParent() (string, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	own, err := ownCgroup()
	if err != nil {
		return "", err
	}
	parent := filepath.Join(mount, own, "baton")
	if err := prepareCgroupParent(parent); err != nil {
		return "", err
	}
	return parent, nil
}

// cgroup2Mount returns the first cgroup2 mount point (a hybrid system has
// it at /sys/fs/cgroup/unified, a unified one at /sys/fs/cgroup).
func cgroup2Mount() (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("read mountinfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source super
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) >= 5 && len(p) >= 1 && p[0] == "cgroup2" {
			return f[4], nil
		}
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// ownCgroup is this process's cgroup v2 path ("/system.slice/baton.service").
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p, nil
		}
	}
	return "", errors.New("this process is in no cgroup v2 cgroup")
}

// prepareCgroupParent creates dir and checks that it is a cgroup v2
// directory this process can create cgroups in.
func prepareCgroupParent(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("%q is not an absolute path", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	if st.Type != cgroup2Magic {
		return fmt.Errorf("%s is not on a cgroup2 file system", dir)
	}
	probe := filepath.Join(dir, fmt.Sprintf("probe-%d", os.Getpid()))
	if err := os.Mkdir(probe, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create a cgroup under %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(probe, "cgroup.procs")); err != nil {
		_ = os.Remove(probe)
		return fmt.Errorf("%s is not a cgroup v2 directory: %w", dir, err)
	}
	if err := os.Remove(probe); err != nil {
		return fmt.Errorf("remove probe cgroup: %w", err)
	}
	return nil
}

// instanceCgroup is the cgroup one shell instance runs in. Every process
// the instance forks stays in it whatever it does with sessions, process
// groups or its environment; only a write to a cgroup.procs file moves it
// out, which an unprivileged task user cannot do.
type instanceCgroup struct {
	dir string
	fd  int // open until the process started in it
}

func newInstanceCgroup(parent, instanceID, marker string) (*instanceCgroup, error) {
	name := strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, instanceID)
	if len(name) > 128 {
		name = name[:128]
	}
	// The marker part: a retry may reuse the instance id while the cgroup
	// of the previous attempt still holds survivors.
	dir := filepath.Join(parent, name+"-"+marker[:8])
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		_ = os.Remove(dir)
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	return &instanceCgroup{dir: dir, fd: fd}, nil
}

func (c *instanceCgroup) closeFD() {
	if c.fd >= 0 {
		_ = syscall.Close(c.fd)
		c.fd = -1
	}
}

// pids lists the processes in the cgroup.
func (c *instanceCgroup) pids() []int {
	b, err := os.ReadFile(filepath.Join(c.dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for f := range strings.FieldsSeq(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func (c *instanceCgroup) signal(sig syscall.Signal) {
	for _, pid := range c.pids() {
		_ = syscall.Kill(pid, sig)
	}
}

// kill SIGKILLs every process of the cgroup. cgroup.kill (Linux 5.14) does
// it atomically, so a process forking in a loop cannot outrun it.
func (c *instanceCgroup) kill() {
	if err := os.WriteFile(filepath.Join(c.dir, "cgroup.kill"), []byte("1"), 0); err == nil {
		return
	}
	c.signal(syscall.SIGKILL)
}

// remove deletes the cgroup once the kernel has let go of its last
// process; a cgroup still holding one cannot be removed (EBUSY).
func (c *instanceCgroup) remove() error {
	c.closeFD()
	_, err := backoff.Retry(context.Background(), func() (struct{}, error) {
		err := os.Remove(c.dir)
		if errors.Is(err, os.ErrNotExist) {
			return struct{}{}, nil
		}
		return struct{}{}, err
	}, backoff.WithBackOff(backoff.NewConstantBackOff(20*time.Millisecond)), backoff.WithMaxElapsedTime(killSettle))
	if err != nil {
		return fmt.Errorf("remove cgroup %s: %w", c.dir, err)
	}
	return nil
}
