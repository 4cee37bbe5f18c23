// Package executor runs one task instance (shell, http, noop or sleep) on the
// local machine and reports how it ended.
//
// It knows nothing about Temporal, the database or the API: the activity that
// calls Execute turns Request.Heartbeat into Temporal heartbeats, cancels ctx
// to stop the instance and records the Result. Keeping it free of those
// dependencies lets it be tested against real processes and servers alone.
package executor

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// DefaultGrace is how long a stopped or timed-out process group gets between
// SIGTERM and SIGKILL when the task does not say.
const DefaultGrace = dag.DefaultGrace

// heartbeatInterval is well under the 5 s the activity relies on, so that a
// slow Heartbeat callback or a busy machine does not make the instance look
// dead. A variable so tests can shorten it.
var heartbeatInterval = 2 * time.Second

// Request is everything needed to run one instance.
type Request struct {
	Task                               dag.Task
	RunID, NodeID, InstanceID, Bizdate string
	Attempt, ShardIndex, ShardTotal    int
	ShardParam                         string
	// Params are the effective params of the instance; Task.Params fill in
	// any name Params does not set.
	Params map[string]string
	// WorkRoot is the parent directory of per-instance working directories
	// ("" means $TMPDIR/baton-work). It is made 0700 and, with a task user,
	// owned by that user.
	WorkRoot string
	// Isolation is who shell tasks run as, what they inherit and how their
	// processes are tracked.
	Isolation Isolation
	// Log receives the process's stdout and stderr as they are produced
	// (and, for http, a response summary), plus "[baton] ..." notes on
	// stops, leftovers and truncation. May be nil. Execute never closes it:
	// a ChunkWriter is closed by the caller once Execute has returned.
	Log io.Writer
	// Heartbeat is called at least every 5 s while the instance runs. May be nil.
	Heartbeat func()
	// HTTPAllow lists CIDRs ("127.0.0.0/8") and exact host names or IPs that
	// http tasks may reach despite the SSRF guard.
	HTTPAllow []string
}

// Result is how an instance ended.
type Result struct {
	Status status.Instance // success | failed | timeout | stopped | stop_failed
	// ExitCode is the process exit code; -1 when the process was killed by a
	// signal, never started, or the task is not a process.
	ExitCode int
	// Outputs are the key=value lines the script wrote to $BATON_OUTPUTS.
	Outputs map[string]string
	// Message is a human-readable reason ("exit status 3",
	// "timed out after 10s, stopped with SIGTERM").
	Message string
}

// Execute runs the instance described by req until it ends, ctx is cancelled
// (the instance is then stopped) or its timeout passes. It never panics on bad
// input: a malformed task is a failed instance with a message saying why.
func Execute(ctx context.Context, req Request) Result {
	stopHB := startHeartbeat(req.Heartbeat)
	defer stopHB()

	lw := newLogWriter(req.Log)
	timeout, err := req.Task.Timeout.Std()
	if err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("task timeout: %v", err))
	}
	grace := DefaultGrace
	if strings.TrimSpace(string(req.Task.Grace)) != "" {
		if grace, err = req.Task.Grace.Std(); err != nil {
			return notProcess(status.InstanceFailed, fmt.Sprintf("task grace: %v", err))
		}
	}
	if ctx.Err() != nil {
		return notProcess(status.InstanceStopped, "stopped before it started")
	}

	switch req.Task.Kind {
	case dag.KindNoop:
		return notProcess(status.InstanceSuccess, "")
	case dag.KindSleep:
		return runSleep(ctx, req.Task.Sleep, timeout)
	case dag.KindShell:
		return runShell(ctx, req, lw, timeout, grace)
	case dag.KindHTTP:
		return runHTTP(ctx, req, lw, timeout)
	case "":
		return notProcess(status.InstanceFailed, "task has no kind")
	default:
		return notProcess(status.InstanceFailed, fmt.Sprintf("unknown task kind %q", req.Task.Kind))
	}
}

func notProcess(s status.Instance, msg string) Result {
	return Result{Status: s, ExitCode: -1, Message: msg}
}

// Environment returns the BATON_* variables a shell instance sees, sorted by
// name. outputsPath becomes BATON_OUTPUTS. The worker's own BATON_* variables
// (database DSN, admin token) are never among them.
func Environment(req Request, outputsPath string) []string {
	vars := map[string]string{
		"BATON_RUN_ID":      req.RunID,
		"BATON_NODE_ID":     req.NodeID,
		"BATON_INSTANCE_ID": req.InstanceID,
		"BATON_ATTEMPT":     strconv.Itoa(req.Attempt),
		"BATON_BIZDATE":     req.Bizdate,
		"BATON_SHARD_INDEX": strconv.Itoa(req.ShardIndex),
		"BATON_SHARD_TOTAL": strconv.Itoa(req.ShardTotal),
		"BATON_SHARD_PARAM": req.ShardParam,
		"BATON_OUTPUTS":     outputsPath,
	}
	// Two names can map to one variable ("a-b" and "a.b"); going through the
	// names in sorted order makes the winner the same on every worker.
	params := effectiveParams(req)
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		vars[ParamVar(name)] = params[name]
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func effectiveParams(req Request) map[string]string {
	out := make(map[string]string, len(req.Task.Params)+len(req.Params))
	for k, v := range req.Task.Params {
		out[k] = v
	}
	for k, v := range req.Params {
		out[k] = v
	}
	return out
}

// ParamVar is the environment variable carrying param name:
// BATON_PARAM_ + the name upper-cased with every character other than A-Z
// and 0-9 replaced by "_".
func ParamVar(name string) string {
	var b strings.Builder
	b.WriteString("BATON_PARAM_")
	for _, r := range strings.ToUpper(name) {
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// startHeartbeat calls hb now and then every heartbeatInterval until the
// returned function is called.
func startHeartbeat(hb func()) (stop func()) {
	if hb == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		hb()
		t := time.NewTicker(heartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				hb()
			}
		}
	}()
	return func() {
		close(done)
		// Waiting means no heartbeat is sent after Execute returned, when the
		// activity may already have completed.
		<-finished
	}
}

// logWriter serialises writes from the output copier and Baton's own notes,
// and swallows errors: a broken log sink must not stop the pipe from being
// drained, or the process would block on a full pipe.
type logWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func newLogWriter(w io.Writer) *logWriter {
	if w == nil {
		w = io.Discard
	}
	return &logWriter{w: w}
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(p)
	return len(p), nil
}

// notef writes a "[baton] ..." line so that readers of the log can tell
// Baton's notes from the script's output.
func (l *logWriter) notef(format string, args ...any) {
	_, _ = fmt.Fprintf(l, "\n[baton] "+format+"\n", args...)
}

func runSleep(ctx context.Context, spec *dag.SleepSpec, timeout time.Duration) Result {
	if spec == nil {
		return notProcess(status.InstanceFailed, "sleep task without a sleep spec")
	}
	d, err := spec.Duration.Std()
	if err != nil {
		return notProcess(status.InstanceFailed, fmt.Sprintf("sleep duration: %v", err))
	}
	t := time.NewTimer(d)
	defer t.Stop()
	var timedOut <-chan time.Time
	if timeout > 0 {
		tt := time.NewTimer(timeout)
		defer tt.Stop()
		timedOut = tt.C
	}
	select {
	case <-t.C:
		return notProcess(status.InstanceSuccess, "")
	case <-ctx.Done():
		return notProcess(status.InstanceStopped, "stopped")
	case <-timedOut:
		return notProcess(status.InstanceTimeout, fmt.Sprintf("timed out after %s", timeout))
	}
}
