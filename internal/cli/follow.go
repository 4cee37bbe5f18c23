package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/baton-sched/baton/internal/cli/apiclient"
	"github.com/baton-sched/baton/internal/status"
)

// nodeOrder is the order statuses are counted in on the live display:
// outcomes first, then what is still to come.
var nodeOrder = []status.Node{status.NodeSuccess, status.NodeFailed, status.NodeTimeout, status.NodeStopped,
	status.NodeSkipped, status.NodeRolledBack, status.NodeRunning, status.NodeDispatched, status.NodeStopping,
	status.NodePaused, status.NodeWaiting}

// maxPollErrors is how many reads of the run, or connections to its event
// stream, in a row may fail (the API restarting) before following gives up.
const maxPollErrors = 5

// reopenGrace is how long a follow started by an operation that reopens
// the run (retry, resume, skip) waits for the mirror to show the run open
// again before it believes the old terminal status.
const reopenGrace = 15 * time.Second

// follower watches a run until it ends: a live display on a terminal,
// plain lines on a pipe.
type follower struct {
	c        *Client
	out      io.Writer
	tty      bool
	width    int
	interval time.Duration

	started time.Time
	// stale is the finish time of the run before the operation that
	// started this follow; a terminal status with that finish time is the
	// old one the mirror has not moved on from yet.
	stale *time.Time
	// last states, for the plain lines.
	runStatus string
	nodes     map[string]string
	drawn     int // lines of the last frame
}

func (a *app) newFollower(c *Client, out io.Writer) *follower {
	tty := isTerminal(out)
	f := &follower{c: c, out: out, tty: tty, interval: a.opts.PollInterval, nodes: map[string]string{}}
	if tty {
		f.width = terminalWidth(out)
	}
	return f
}

// follow shows the run until it is terminal and returns its last detail.
// What moves comes from the run's event stream (watchRun): a burst of
// events is one read of the detail, and nothing is read while nothing
// happens; on a terminal the frame's clock still ticks.
func (f *follower) follow(ctx context.Context, runID string) (*runDetail, []byte, error) {
	f.started = time.Now()
	if f.tty {
		fmt.Fprint(f.out, "\x1b[?25l") // hide the cursor while redrawing
		defer fmt.Fprint(f.out, "\x1b[?25h")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan sseEvent, 64)
	watchErr := make(chan error, 1)
	go func() { watchErr <- f.watchRun(ctx, runID, changed) }()
	var tick <-chan time.Time
	if f.tty {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	stopped := func() error {
		return fmt.Errorf("stopped following run %s (the run goes on): %w", runID, context.Cause(ctx))
	}
	var d *runDetail
	for read := true; ; {
		if read {
			var raw []byte
			var err error
			if d, raw, err = f.read(ctx, runID); err != nil {
				return nil, nil, err
			}
			f.show(d)
			if f.finished(d) {
				f.done(d)
				return d, raw, nil
			}
			read = false
		}
		select {
		case <-ctx.Done():
			return nil, nil, stopped()
		case err := <-watchErr:
			if ctx.Err() != nil {
				return nil, nil, stopped()
			}
			return nil, nil, fmt.Errorf("follow run %s: event stream: %w", runID, err)
		case <-changed:
			// A node ending and the next ones starting arrive together:
			// read once they have.
			for quiet := false; !quiet; {
				select {
				case <-changed:
				case <-time.After(burstQuiet):
					quiet = true
				}
			}
			read = true
		case <-tick:
			f.show(d)
		}
	}
}

// burstQuiet is how long the event stream stays silent before a burst of
// events is taken as over.
const burstQuiet = 50 * time.Millisecond

// read is one read of the run's detail, tried again while the API answers
// with transient errors (it may be restarting).
func (f *follower) read(ctx context.Context, runID string) (*runDetail, []byte, error) {
	for failures := 0; ; {
		var d runDetail
		raw, err := f.c.call(ctx, http.MethodGet, "/api/v1/runs/"+runID, nil, nil, &d)
		switch {
		case err == nil:
			return &d, raw, nil
		case ctx.Err() != nil:
			return nil, nil, fmt.Errorf("stopped following run %s (the run goes on): %w", runID, ctx.Err())
		case !transient(err):
			return nil, nil, fmt.Errorf("follow run %s: %w", runID, err)
		}
		if failures++; failures >= maxPollErrors {
			return nil, nil, fmt.Errorf("follow run %s: %w", runID, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("stopped following run %s (the run goes on): %w", runID, ctx.Err())
		case <-time.After(f.interval):
		}
	}
}

// transient says whether a failed read may succeed when tried again.
func transient(err error) bool {
	var e *APIError
	if errors.As(err, &e) {
		return e.Status >= 500
	}
	return true // the connection: the API may be restarting
}

func (f *follower) finished(d *runDetail) bool {
	if !status.Run(d.Status).Terminal() {
		f.stale = nil
		return false
	}
	if f.stale != nil && d.FinishedAt != nil && d.FinishedAt.Equal(*f.stale) && time.Since(f.started) < reopenGrace {
		return false
	}
	return true
}

func (f *follower) show(d *runDetail) {
	if f.tty {
		f.redraw(frame(d, f.elapsed(d), f.width))
		return
	}
	for _, line := range f.changes(d) {
		fmt.Fprintln(f.out, line)
	}
}

// elapsed is the run's age: from its start (or creation) on the server's
// clock to its finish, or to now on ours while it runs.
func (f *follower) elapsed(d *runDetail) time.Duration {
	from := d.StartedAt
	if from == nil {
		from = d.CreatedAt
	}
	if from == nil {
		return time.Since(f.started)
	}
	end := time.Now()
	if d.FinishedAt != nil && status.Run(d.Status).Terminal() {
		end = *d.FinishedAt
	}
	return roundDuration(end.Sub(*from))
}

// changes are the plain lines for what moved since the last read: one per
// node whose status changed, one when the run's did.
func (f *follower) changes(d *runDetail) []string {
	at := fmt.Sprintf("+%s", roundDuration(time.Since(f.started)))
	var out []string
	if string(d.Status) != f.runStatus {
		out = append(out, fmt.Sprintf("%s run %s %s", at, d.ID, d.Status))
		f.runStatus = string(d.Status)
	}
	for _, n := range d.Nodes {
		if f.nodes[n.ID] == string(n.Status) {
			continue
		}
		f.nodes[n.ID] = string(n.Status)
		line := fmt.Sprintf("%s node %s %s", at, n.ID, n.Status)
		if n.Attempts > 1 {
			line += fmt.Sprintf(" (attempt %d)", n.Attempts)
		}
		if n.Message != "" && status.Node(n.Status).Terminal() && n.Status != apiclient.NodeStatus(status.NodeSuccess) {
			line += ": " + truncate(n.Message, 120)
		}
		out = append(out, line)
	}
	return out
}

// done prints the closing line.
func (f *follower) done(d *runDetail) {
	line := fmt.Sprintf("run %s %s in %s", d.ID, d.Status, f.elapsed(d))
	if d.Message != "" && d.Status != apiclient.RunStatus(status.RunSuccess) {
		line += ": " + truncate(d.Message, 200)
	}
	fmt.Fprintln(f.out, line)
}

// redraw replaces the last frame with lines, in place.
func (f *follower) redraw(lines []string) {
	var b strings.Builder
	if f.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", f.drawn) // to the start of the frame
	}
	b.WriteString("\x1b[J") // clear it
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	_, _ = io.WriteString(f.out, b.String())
	f.drawn = len(lines)
}

// frame is the live display of a run: its status and age, a bar of the
// finished nodes, the count of each status and the running nodes. Lines
// are cut to width so none wraps and breaks the redraw.
func frame(d *runDetail, elapsed time.Duration, width int) []string {
	if width <= 0 {
		width = 80
	}
	counts := map[string]int{}
	done := 0
	var running []string
	for _, n := range d.Nodes {
		counts[string(n.Status)]++
		st := status.Node(n.Status)
		if st.Terminal() {
			done++
		}
		if st == status.NodeRunning || st == status.NodeDispatched || st == status.NodeStopping {
			running = append(running, n.ID)
		}
	}
	total := len(d.Nodes)
	name := d.DefinitionName
	if name == "" {
		name = d.DefinitionID
	}
	lines := []string{fmt.Sprintf("run %s  %s %s v%d  %s  %s", d.ID, d.Kind, name, d.Version, strings.ToUpper(string(d.Status)), elapsed)}

	barWidth := min(40, max(10, width-20))
	filled := 0
	if total > 0 {
		filled = done * barWidth / total
	}
	lines = append(lines, fmt.Sprintf("[%s%s] %d/%d nodes done", strings.Repeat("█", filled), strings.Repeat("░", barWidth-filled), done, total))

	var parts []string
	for _, st := range nodeOrder {
		if n := counts[string(st)]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, n))
			delete(counts, string(st))
		}
	}
	for st, n := range counts { // statuses this CLI does not know yet
		parts = append(parts, fmt.Sprintf("%s %d", st, n))
	}
	if len(parts) == 0 {
		parts = []string{"no nodes yet"}
	}
	lines = append(lines, strings.Join(parts, "  "))
	if len(running) > 0 {
		lines = append(lines, fmt.Sprintf("running (%d): %s", len(running), strings.Join(running, ", ")))
	}
	for i, l := range lines {
		lines[i] = truncate(l, width)
	}
	return lines
}

// followResult prints the end of a follow: with -o json or yaml the last
// detail, and an error (exit 1) when the run did not succeed, so that
// `baton flows run X --follow && next-step` does what it reads like.
func (a *app) followResult(w io.Writer, d *runDetail, raw []byte) error {
	if !a.human() {
		if err := printRaw(w, a.output, raw); err != nil {
			return err
		}
	}
	if d.Status != apiclient.RunStatus(status.RunSuccess) {
		return fmt.Errorf("run %s ended %s", d.ID, d.Status)
	}
	return nil
}

// followOut is where the progress goes: stdout for people, stderr when
// stdout carries JSON or YAML for a script.
func (a *app) followOut(stdout, stderr io.Writer) io.Writer {
	if a.human() {
		return stdout
	}
	return stderr
}
