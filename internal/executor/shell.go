package executor

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/baton-sched/baton/internal/status"
)

const (
	// OutputsFile is the name of $BATON_OUTPUTS inside the working directory.
	OutputsFile = ".baton_outputs"
	// MarkerVar is set to a random token in every shell instance's
	// environment. Descendants inherit it, which is how processes that left
	// the process group (setsid, double fork) are still found. A fresh token
	// per execution, rather than BATON_INSTANCE_ID, because an activity retry
	// may reuse the instance id while the previous attempt's processes live.
	MarkerVar = "BATON_EXEC_MARKER"

	// Beyond the kernel's per-argument limit (128 KiB) "sh -c script" fails
	// with E2BIG, so big scripts are run from a file instead.
	maxInlineScript = 100 << 10
	scriptFile      = ".baton_script"
)

var (
	// After the last process died, the output pipe should reach EOF at
	// once; if nothing arrives for this long, something outside our reach
	// (a process that dropped the marker) still holds it open.
	drainIdle = 2 * time.Second
	// How long the kernel gets to finish off SIGKILLed processes before
	// the ones still alive are reported as survivors.
	killSettle = 2 * time.Second
)

// shellRun is one shell instance in flight.
type shellRun struct {
	cmd    *exec.Cmd
	pgid   int
	marker string
	lw     *logWriter
	waited chan struct{} // closed when the group leader has been reaped
	state  *os.ProcessState
	// cg is the instance's cgroup; nil on the fallback path, where known
	// records the descendants seen so far (pid -> start time).
	cg      *instanceCgroup
	knownMu sync.Mutex
	known   map[int]uint64
	seeded  bool
	// startTick is the leader's start time (clock ticks after boot, as
	// /proc/<pid>/stat says); 0 when it could not be read, which makes
	// every process a candidate of the marker search.
	startTick uint64
	// detached are processes a stop found outside the process group but in
	// the cgroup, and signalled with the rest.
	detached []procInfo
}

func runShell(ctx context.Context, req Request, lw *logWriter, timeout, grace time.Duration) Result {
	spec := req.Task.Shell
	if spec == nil {
		return notProcess(status.InstanceFailed, "shell task without a shell spec")
	}
	tu := req.Isolation.User
	dir, err := makeWorkDir(req.WorkRoot, tu)
	if err != nil {
		return notProcess(status.InstanceFailed, err.Error())
	}
	defer removeWorkDir(dir, lw)

	outputsPath := filepath.Join(dir, OutputsFile)
	if err := writeTaskFile(outputsPath, nil, tu); err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("create outputs file: %v", err))
	}
	interp := spec.Shell
	if interp == "" {
		interp = "/bin/sh"
	}
	args := []string{"-c", spec.Script}
	if len(spec.Script) > maxInlineScript {
		p := filepath.Join(dir, scriptFile)
		if err := writeTaskFile(p, []byte(spec.Script), tu); err != nil {
			return notProcess(status.InstanceFailed, fmt.Sprintf("write script file: %v", err))
		}
		args = []string{p}
	}
	marker, err := newMarker()
	if err != nil {
		return notProcess(status.InstanceFailed, err.Error())
	}

	run := &shellRun{marker: marker, lw: lw, waited: make(chan struct{}), known: map[int]uint64{}}
	if req.Isolation.CgroupParent != "" {
		if run.cg, err = newInstanceCgroup(req.Isolation.CgroupParent, req.InstanceID, marker); err != nil {
			lw.notef("no cgroup for this instance (%v): tracking its processes by process tree", err)
		}
	}
	// Our own pipe rather than an io.Writer: exec.Cmd.Wait would otherwise
	// wait for every holder of the pipe (a background child) to go away.
	pr, pw, err := os.Pipe()
	if err != nil {
		run.removeCgroup()
		return notProcess(status.InstanceFailed, fmt.Sprintf("create output pipe: %v", err))
	}
	newCmd := func() *exec.Cmd {
		cmd := exec.Command(interp, args...)
		cmd.Dir = dir
		cmd.Env = taskEnv(req, outputsPath, dir, marker)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if tu != nil {
			cmd.SysProcAttr.Credential = &syscall.Credential{Uid: tu.UID, Gid: tu.GID, Groups: tu.Groups}
		}
		if run.cg != nil {
			// clone3(CLONE_INTO_CGROUP): the process is born in the
			// cgroup, so not even its first fork happens outside it.
			cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, run.cg.fd
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		return cmd
	}
	cmd := newCmd()
	err = cmd.Start()
	if err != nil && run.cg != nil {
		// An older kernel (no clone3 into a cgroup) or a cgroup that
		// refuses processes: run anyway, tracked the other way.
		lw.notef("could not start in cgroup %s (%v): tracking the instance's processes by process tree", run.cg.dir, err)
		run.removeCgroup()
		run.cg = nil
		cmd = newCmd()
		err = cmd.Start()
	}
	pw.Close()
	if err != nil {
		pr.Close()
		run.removeCgroup()
		return notProcess(status.InstanceFailed, fmt.Sprintf("start %s: %v", interp, err))
	}
	run.cmd, run.pgid = cmd, cmd.Process.Pid
	if run.cg != nil {
		run.cg.closeFD()
	}
	defer run.removeCgroup()

	var finishing atomic.Bool
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		copyOutput(pr, lw, &finishing)
	}()
	go func() {
		// Wait's error only repeats what ProcessState says.
		_ = cmd.Wait()
		run.state = cmd.ProcessState
		close(run.waited)
	}()
	stopRecording := run.recordTree()

	res := run.supervise(ctx, timeout, grace)
	stopRecording()

	finishing.Store(true)
	_ = pr.SetReadDeadline(time.Now().Add(drainIdle))
	<-copied
	pr.Close()

	outputs, note := readOutputs(outputsPath)
	if note != "" {
		lw.notef("%s", note)
	}
	res.Outputs = outputs
	return res
}

func (r *shellRun) removeCgroup() {
	if r.cg == nil {
		return
	}
	if err := r.cg.remove(); err != nil {
		r.lw.notef("%v", err)
	}
}

// treeInterval is how often the fallback path records the instance's
// process tree, so that a child that left the process group and dropped
// the marker is still known after its parent exited.
var treeInterval = 200 * time.Millisecond

// recordTree has the process tree sampled for r until the returned
// function is called; a no-op when a cgroup tracks the instance.
func (r *shellRun) recordTree() (stop func()) {
	// The tree's root is the leader as it is now; the sampler adds what it
	// forks. (A full sample here cost a /proc scan per instance, and could
	// only have caught what the leader forked in its first microseconds,
	// which the marker search at cleanup finds as well.)
	r.seed()
	if r.cg != nil {
		return func() {}
	}
	sampler.add(r)
	return func() { sampler.remove(r) }
}

// sampler takes one /proc sample per treeInterval for all running
// instances of the process: a sample costs milliseconds on a busy machine
// (3 to 7 ms for about 110 processes, BenchmarkProcessTreeSample), which per
// instance would grow with the worker's concurrency.
var sampler treeSampler

type treeSampler struct {
	mu   sync.Mutex
	runs map[*shellRun]bool
	stop chan struct{} // closes the goroutine serving the current runs
}

func (s *treeSampler) add(r *shellRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runs) == 0 {
		s.runs = map[*shellRun]bool{}
		s.stop = make(chan struct{})
		go s.loop(s.stop)
	}
	s.runs[r] = true
}

func (s *treeSampler) remove(r *shellRun) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.runs, r)
	if len(s.runs) == 0 && s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
}

func (s *treeSampler) loop(stop chan struct{}) {
	t := time.NewTicker(treeInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		procs := readProcs()
		s.mu.Lock()
		runs := make([]*shellRun, 0, len(s.runs))
		for r := range s.runs {
			runs = append(runs, r)
		}
		s.mu.Unlock()
		for _, r := range runs {
			r.descendants(procs)
		}
	}
}

// supervise waits for the process to end, stops it on cancellation or
// timeout, then makes sure nothing the instance started is left running.
func (r *shellRun) supervise(ctx context.Context, timeout, grace time.Duration) Result {
	var timedOut <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timedOut = t.C
	}
	var res Result
	select {
	case <-r.waited:
		res = r.exitResult()
	case <-ctx.Done():
		r.lw.notef("stop requested: sending SIGTERM to %s", r.target())
		res = r.stop(status.InstanceStopped, "", grace)
	case <-timedOut:
		r.lw.notef("timed out after %s: sending SIGTERM to %s", timeout, r.target())
		res = r.stop(status.InstanceTimeout, fmt.Sprintf("timed out after %s, ", timeout), grace)
	}
	if len(r.detached) > 0 {
		res.Message += fmt.Sprintf("; process(es) %s had left the process group and were stopped through the instance's cgroup", describe(r.detached))
	}
	if res.Status == status.InstanceStopFailed {
		return res
	}
	return r.cleanup(res)
}

func (r *shellRun) target() string {
	if r.cg != nil {
		return fmt.Sprintf("process group %d and cgroup %s", r.pgid, r.cg.dir)
	}
	return fmt.Sprintf("process group %d", r.pgid)
}

func (r *shellRun) exitResult() Result {
	code := r.state.ExitCode()
	switch {
	case code == 0:
		return Result{Status: status.InstanceSuccess, ExitCode: 0, Message: "exit status 0"}
	case code > 0:
		return Result{Status: status.InstanceFailed, ExitCode: code, Message: fmt.Sprintf("exit status %d", code)}
	default:
		return Result{Status: status.InstanceFailed, ExitCode: -1, Message: r.state.String()}
	}
}

// stop sends SIGTERM to the process group (and, with a cgroup, to every
// process in it), gives it grace to exit and then SIGKILLs what is left. s
// is the status to report; prefix goes before the message ("timed out
// after 10s, ").
func (r *shellRun) stop(s status.Instance, prefix string, grace time.Duration) Result {
	if r.cg == nil {
		// The SIGTERM orphans the group's children: take their parent
		// links now, while they still point into the tree.
		r.descendants(readProcs())
	} else {
		if _, outside := r.scan(); len(outside) > 0 {
			r.detached = outside
			r.lw.notef("%d process(es) left the process group but not the instance's cgroup: %s; sending them SIGTERM too",
				len(outside), describe(outside))
		}
		r.cg.signal(syscall.SIGTERM)
	}
	_ = syscall.Kill(-r.pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	clean := r.waitGroupGone(deadline)
	code := -1
	if clean {
		code = r.state.ExitCode()
		return Result{Status: s, ExitCode: code, Message: prefix + "stopped with SIGTERM"}
	}
	r.lw.notef("still running %s after SIGTERM: sending SIGKILL to %s", grace, r.target())
	r.killGroup()
	select {
	case <-r.waited:
		code = r.state.ExitCode()
	case <-time.After(killSettle):
		return Result{Status: status.InstanceStopFailed, ExitCode: -1,
			Message: fmt.Sprintf("%skilled with SIGKILL after %s grace, but process %d did not exit", prefix, grace, r.pgid)}
	}
	msg := fmt.Sprintf("killed with SIGKILL after %s grace", grace)
	if prefix == "" {
		msg = "stopped: " + msg
	}
	return Result{Status: s, ExitCode: code, Message: prefix + msg}
}

func (r *shellRun) killGroup() {
	if r.cg != nil {
		r.cg.kill()
	}
	_ = syscall.Kill(-r.pgid, syscall.SIGKILL)
}

// waitGroupGone reports whether the group leader exited and no other member
// of its process group (or, with a cgroup, of the cgroup) is alive before
// deadline.
func (r *shellRun) waitGroupGone(deadline time.Time) bool {
	select {
	case <-r.waited:
	case <-time.After(time.Until(deadline)):
		return false
	}
	for {
		members, outside := r.scan()
		if len(members) == 0 && (r.cg == nil || len(outside) == 0) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanup kills whatever the instance left behind: members of its process
// group and processes that escaped it but are still known to be the
// instance's (cgroup, marker or recorded parent links). On the fallback
// path escapees turn a stop into stop_failed: they were not reached by
// the stop's SIGTERM, and a stop that could not be done cleanly must not be
// silent. Anything that survives SIGKILL is stop_failed on either path.
func (r *shellRun) cleanup(res Result) Result {
	members, escaped := r.scan()
	if len(members) > 0 {
		r.lw.notef("killing %d leftover process(es) of the instance: %s", len(members), describe(members))
	}
	if len(escaped) > 0 {
		r.lw.notef("%d process(es) escaped the process group: %s; killing them with SIGKILL", len(escaped), describe(escaped))
	}
	var survivors []procInfo
	if len(members) > 0 || len(escaped) > 0 {
		// With nothing of the instance alive nothing can fork either: the
		// kill loop (and its settle wait) is only for what was found.
		survivors = r.killAll(escaped)
	}
	stopped := res.Status != status.InstanceSuccess && res.Status != status.InstanceFailed
	switch {
	case len(survivors) > 0:
		res.Status = status.InstanceStopFailed
		res.Message += fmt.Sprintf("; %d process(es) still alive after SIGKILL: %s", len(survivors), describe(survivors))
		r.lw.notef("still alive after SIGKILL: %s", describe(survivors))
	case len(escaped) > 0 && stopped && r.cg == nil:
		res.Status = status.InstanceStopFailed
		res.Message += fmt.Sprintf("; process(es) %s escaped the process group and survived the stop (killed afterwards with SIGKILL)", describe(escaped))
	case len(escaped) > 0:
		res.Message += fmt.Sprintf("; killed process(es) %s that escaped the process group", describe(escaped))
	}
	return res
}

// killAll SIGKILLs the process group, the cgroup and the given escapees,
// repeating while new ones show up (an escapee may fork between scans), and
// returns those still alive after killSettle.
func (r *shellRun) killAll(escaped []procInfo) []procInfo {
	deadline := time.Now().Add(killSettle)
	members := []procInfo(nil)
	for {
		r.killGroup()
		for _, p := range escaped {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
		members, escaped = r.scan()
		if len(members) == 0 && len(escaped) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return append(members, escaped...)
		}
	}
}

type procInfo struct {
	pid  int
	comm string
}

func describe(ps []procInfo) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("pid %d (%s)", p.pid, p.comm)
	}
	return strings.Join(parts, ", ")
}

// procStat is what /proc/<pid>/stat says about a live process.
type procStat struct {
	pid, ppid, pgrp int
	start           uint64 // clock ticks after boot: tells a reused pid apart
	state           byte
	comm            string
}

// readProcs lists the live processes other than this one. Zombies are not
// alive: they hold no resources and only wait for their parent.
func readProcs() []procStat {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		st, ok := parseProcStat(b)
		if !ok || st.state == 'Z' || st.state == 'X' {
			continue
		}
		st.pid = pid
		out = append(out, st)
	}
	return out
}

// scan lists the live processes of the instance: members of its process
// group and, separately, the others known to be its own: in its cgroup, or
// (fallback) descendants by recorded parent links, plus on either path any
// process whose environment carries the marker.
func (r *shellRun) scan() (members, escaped []procInfo) {
	procs := readProcs()
	mine := map[int]bool{}
	if r.cg != nil {
		for _, pid := range r.cg.pids() {
			mine[pid] = true
		}
	} else {
		mine = r.descendants(procs)
	}
	needle := []byte("\x00" + MarkerVar + "=" + r.marker + "\x00")
	for _, p := range procs {
		info := procInfo{p.pid, p.comm}
		switch {
		case p.pgrp == r.pgid:
			members = append(members, info)
		case mine[p.pid]:
			escaped = append(escaped, info)
		case r.startTick > 0 && p.start < r.startTick:
			// Started before the instance: it cannot carry the marker,
			// and its environment need not be read (one file per process
			// of the machine, most of a scan's cost).
		case hasMarker(p.pid, needle):
			escaped = append(escaped, info)
		}
	}
	sort.Slice(members, func(i, j int) bool { return members[i].pid < members[j].pid })
	sort.Slice(escaped, func(i, j int) bool { return escaped[i].pid < escaped[j].pid })
	return members, escaped
}

// seed records the group leader as the root of the process tree, and its
// start time as the instance's: no process of the instance can have
// started before it.
func (r *shellRun) seed() {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(r.pgid) + "/stat")
	if err != nil {
		return // already gone: nothing forked from it can be tracked by parent link
	}
	st, ok := parseProcStat(b)
	if !ok {
		return
	}
	r.knownMu.Lock()
	defer r.knownMu.Unlock()
	if !r.seeded {
		r.seeded = true
		r.known[r.pgid] = st.start
	}
	r.startTick = st.start
}

// descendants extends the recorded tree with procs' parent links and
// returns the live processes in it: the group leader as first seen, every
// process seen below it before and the children of any of them. A recorded pid whose
// start time changed belongs to someone else now and is dropped.
func (r *shellRun) descendants(procs []procStat) map[int]bool {
	r.knownMu.Lock()
	defer r.knownMu.Unlock()
	byPid := make(map[int]procStat, len(procs))
	children := map[int][]int{}
	for _, p := range procs {
		byPid[p.pid] = p
		children[p.ppid] = append(children[p.ppid], p.pid)
	}
	if !r.seeded {
		// The leader is a root of the tree only as the process it was at
		// the first sample: once reaped, its pid may be someone else's.
		r.seeded = true
		if p, ok := byPid[r.pgid]; ok {
			r.known[r.pgid] = p.start
		}
	}
	live := map[int]bool{}
	var queue []int
	for pid, start := range r.known {
		if p, ok := byPid[pid]; ok && p.start == start {
			queue = append(queue, pid)
		} else {
			delete(r.known, pid)
		}
	}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		p, ok := byPid[pid]
		if live[pid] || !ok {
			continue
		}
		live[pid] = true
		r.known[pid] = p.start
		queue = append(queue, children[pid]...)
	}
	return live
}

func hasMarker(pid int, needle []byte) bool {
	env, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(env) == 0 {
		return false
	}
	// Framing with NULs makes the match exact: no prefix or suffix of
	// another variable's value can pass for the marker.
	framed := append(append([]byte{0}, env...), 0)
	return bytes.Contains(framed, needle)
}

// parseProcStat reads /proc/<pid>/stat (pid itself is left 0). comm may
// hold spaces and parentheses, so the fields are found after the last ')'.
func parseProcStat(b []byte) (procStat, bool) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return procStat{}, false
	}
	st := procStat{comm: string(b[open+1 : closing])}
	fields := strings.Fields(string(b[closing+1:]))
	// state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	// utime stime cutime cstime priority nice threads itrealvalue starttime
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, false
	}
	st.state = fields[0][0]
	var err1, err2, err3 error
	st.ppid, err1 = strconv.Atoi(fields[1])
	st.pgrp, err2 = strconv.Atoi(fields[2])
	st.start, err3 = strconv.ParseUint(fields[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return st, true
}

// copyOutput streams the pipe into the log as data arrives. Once finishing
// is set every read gets a deadline, so a pipe held open by a process we
// could not find cannot hang the instance; a slow log sink is not counted
// against it because the deadline is renewed before each read.
func copyOutput(pr *os.File, lw *logWriter, finishing *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		if finishing.Load() {
			_ = pr.SetReadDeadline(time.Now().Add(drainIdle))
		}
		n, err := pr.Read(buf)
		if n > 0 {
			_, _ = lw.Write(buf[:n])
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				lw.notef("stopped reading output: the log pipe is still held open by a process outside the instance")
			}
			return
		}
	}
}

func newMarker() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate process marker: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// removeWorkDir deletes the working directory even when the script removed
// permissions from parts of it; failure is only noted in the log because the
// instance's outcome is already decided.
func removeWorkDir(dir string, lw *logWriter) {
	if err := os.RemoveAll(dir); err == nil {
		return
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, _ error) error {
		if d != nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	if err := os.RemoveAll(dir); err != nil {
		lw.notef("could not remove working directory: %v", err)
	}
}
