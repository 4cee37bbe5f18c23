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
}

func runShell(ctx context.Context, req Request, lw *logWriter, timeout, grace time.Duration) Result {
	spec := req.Task.Shell
	if spec == nil {
		return notProcess(status.InstanceFailed, "shell task without a shell spec")
	}
	dir, err := makeWorkDir(req.WorkRoot)
	if err != nil {
		return notProcess(status.InstanceFailed, err.Error())
	}
	defer removeWorkDir(dir, lw)

	outputsPath := filepath.Join(dir, OutputsFile)
	if err := os.WriteFile(outputsPath, nil, 0o600); err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("create outputs file: %v", err))
	}
	interp := spec.Shell
	if interp == "" {
		interp = "/bin/sh"
	}
	args := []string{"-c", spec.Script}
	if len(spec.Script) > maxInlineScript {
		p := filepath.Join(dir, scriptFile)
		if err := os.WriteFile(p, []byte(spec.Script), 0o600); err != nil {
			return notProcess(status.InstanceFailed, fmt.Sprintf("write script file: %v", err))
		}
		args = []string{p}
	}
	marker, err := newMarker()
	if err != nil {
		return notProcess(status.InstanceFailed, err.Error())
	}

	cmd := exec.Command(interp, args...)
	cmd.Dir = dir
	cmd.Env = shellEnv(req, outputsPath, dir, marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Our own pipe rather than an io.Writer: exec.Cmd.Wait would otherwise
	// wait for every holder of the pipe (a background child) to go away.
	pr, pw, err := os.Pipe()
	if err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("create output pipe: %v", err))
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return notProcess(status.InstanceFailed, fmt.Sprintf("start %s: %v", interp, err))
	}

	run := &shellRun{cmd: cmd, pgid: cmd.Process.Pid, marker: marker, lw: lw, waited: make(chan struct{})}
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

	res := run.supervise(ctx, timeout, grace)

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
		r.lw.notef("stop requested: sending SIGTERM to process group %d", r.pgid)
		res = r.stop(status.InstanceStopped, "", grace)
	case <-timedOut:
		r.lw.notef("timed out after %s: sending SIGTERM to process group %d", timeout, r.pgid)
		res = r.stop(status.InstanceTimeout, fmt.Sprintf("timed out after %s, ", timeout), grace)
	}
	if res.Status == status.InstanceStopFailed {
		return res
	}
	return r.cleanup(res)
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

// stop sends SIGTERM to the process group, gives it grace to exit and then
// SIGKILLs what is left. s is the status to report; prefix goes before the
// message ("timed out after 10s, ").
func (r *shellRun) stop(s status.Instance, prefix string, grace time.Duration) Result {
	_ = syscall.Kill(-r.pgid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	clean := r.waitGroupGone(deadline)
	code := -1
	if clean {
		code = r.state.ExitCode()
		return Result{Status: s, ExitCode: code, Message: prefix + "stopped with SIGTERM"}
	}
	r.lw.notef("still running %s after SIGTERM: sending SIGKILL to process group %d", grace, r.pgid)
	_ = syscall.Kill(-r.pgid, syscall.SIGKILL)
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

// waitGroupGone reports whether the group leader exited and no other member
// of its process group is alive before deadline.
func (r *shellRun) waitGroupGone(deadline time.Time) bool {
	select {
	case <-r.waited:
	case <-time.After(time.Until(deadline)):
		return false
	}
	for {
		if members, _ := scanProcs(r.pgid, r.marker); len(members) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanup kills whatever the instance left behind: members of its process
// group and processes that escaped it but still carry the marker. Escapees
// turn the result into stop_failed (a stop that could not be done cleanly
// must not be silent); so does anything that survives SIGKILL.
func (r *shellRun) cleanup(res Result) Result {
	members, escaped := scanProcs(r.pgid, r.marker)
	if len(members) > 0 {
		r.lw.notef("killing %d leftover process(es) of the instance: %s", len(members), describe(members))
	}
	if len(escaped) > 0 {
		r.lw.notef("%d process(es) escaped the process group: %s; killing them with SIGKILL", len(escaped), describe(escaped))
	}
	survivors := r.killAll(escaped)
	switch {
	case len(survivors) > 0:
		res.Status = status.InstanceStopFailed
		res.Message += fmt.Sprintf("; %d process(es) still alive after SIGKILL: %s", len(survivors), describe(survivors))
		r.lw.notef("still alive after SIGKILL: %s", describe(survivors))
	case len(escaped) > 0 && res.Status != status.InstanceSuccess && res.Status != status.InstanceFailed:
		res.Status = status.InstanceStopFailed
		res.Message += fmt.Sprintf("; process(es) %s escaped the process group and survived the stop (killed afterwards with SIGKILL)", describe(escaped))
	case len(escaped) > 0:
		res.Message += fmt.Sprintf("; killed process(es) %s that escaped the process group", describe(escaped))
	}
	return res
}

// killAll SIGKILLs the process group and the given escapees, repeating while
// new marked processes show up (an escapee may fork between scans), and
// returns those still alive after killSettle.
func (r *shellRun) killAll(escaped []procInfo) []procInfo {
	deadline := time.Now().Add(killSettle)
	members := []procInfo(nil)
	for {
		_ = syscall.Kill(-r.pgid, syscall.SIGKILL)
		for _, p := range escaped {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
		members, escaped = scanProcs(r.pgid, r.marker)
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

// scanProcs lists live processes of process group pgid and, separately,
// live processes outside it whose environment carries marker. Zombies are
// not alive: they hold no resources and only wait for their parent.
func scanProcs(pgid int, marker string) (members, escaped []procInfo) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, nil
	}
	needle := []byte("\x00" + MarkerVar + "=" + marker + "\x00")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		comm, state, pgrp, ok := parseStat(stat)
		if !ok || state == 'Z' || state == 'X' {
			continue
		}
		if pgrp == pgid {
			members = append(members, procInfo{pid, comm})
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil || len(env) == 0 {
			continue
		}
		// Framing with NULs makes the match exact: no prefix or suffix of
		// another variable's value can pass for the marker.
		framed := append(append([]byte{0}, env...), 0)
		if bytes.Contains(framed, needle) {
			escaped = append(escaped, procInfo{pid, comm})
		}
	}
	sort.Slice(members, func(i, j int) bool { return members[i].pid < members[j].pid })
	sort.Slice(escaped, func(i, j int) bool { return escaped[i].pid < escaped[j].pid })
	return members, escaped
}

// parseStat reads comm, state and pgrp from /proc/<pid>/stat. comm may hold
// spaces and parentheses, so the fields are found after the last ')'.
func parseStat(b []byte) (comm string, state byte, pgrp int, ok bool) {
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return "", 0, 0, false
	}
	comm = string(b[open+1 : closing])
	fields := strings.Fields(string(b[closing+1:]))
	// state ppid pgrp ...
	if len(fields) < 3 || len(fields[0]) != 1 {
		return "", 0, 0, false
	}
	pgrp, err := strconv.Atoi(fields[2])
	if err != nil {
		return "", 0, 0, false
	}
	return comm, fields[0][0], pgrp, true
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

// shellEnv is the worker's environment without its BATON_* variables (they
// include the database DSN and the admin token), plus the instance's own.
func shellEnv(req Request, outputsPath, dir, marker string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "BATON_") || name == "PWD" || name == "OLDPWD" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "PWD="+dir)
	env = append(env, Environment(req, outputsPath)...)
	return append(env, MarkerVar+"="+marker)
}

func newMarker() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate process marker: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func makeWorkDir(root string) (string, error) {
	if root == "" {
		root = os.TempDir()
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create work root: %w", err)
	}
	dir, err := os.MkdirTemp(root, "baton-")
	if err != nil {
		return "", fmt.Errorf("create working directory: %w", err)
	}
	return dir, nil
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
