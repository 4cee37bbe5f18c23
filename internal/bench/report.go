package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

// Targets of the performance issue: interpreter makespan over hand-written.
const (
	TargetMirrorOff = 1.10
	TargetMirrorOn  = 1.10 // issue 12 raised it from 1.25
)

// Row is the report's summary of one Result.
type Row struct {
	Shape   Shape
	Variant Variant
	OK      int // successful samples
	Errors  []string

	Makespan  time.Duration
	Ratio     float64   // median makespan over the hand-written one's; 0 when none
	RepRatios []float64 // the same, repetition by repetition

	Runs            int
	EventsPerNode   float64
	WorkflowTasks   int
	WFTsPerNode     float64
	MarkersPerRun   int
	HistoryKB       int
	Hop, Critical   time.Duration
	ToTask, InTask  time.Duration
	ToActivity      time.Duration
	HopPairs, Nodes int

	Startup, Handover, Finish time.Duration
	// InstanceP50 and InstanceP95 are over every activity of every
	// repetition: ActivityTaskStarted → ActivityTaskCompleted.
	InstanceP50, InstanceP95 time.Duration
}

// Summarize turns results into rows, with ratios against the hand-written
// variant of the same shape.
func Summarize(results []*Result) []Row {
	hand := map[string]*Result{}
	for _, r := range results {
		if r.Variant == VariantHand {
			hand[r.Shape.Name] = r
		}
	}
	rows := make([]Row, 0, len(results))
	for _, r := range results {
		row := Row{Shape: r.Shape, Variant: r.Variant, Nodes: r.Shape.TaskNodes()}
		var spans []time.Duration
		var runs, events, wfts, markers, bytes []int
		var hops, crit, toTask, inTask, toAct, inst []time.Duration
		for _, s := range r.Samples {
			if s.Err != nil {
				row.Errors = append(row.Errors, fmt.Sprintf("rep %d: %v", s.Rep, s.Err))
				continue
			}
			row.OK++
			spans = append(spans, s.Makespan)
			runs = append(runs, s.Stats.Runs)
			events = append(events, s.Stats.Events)
			wfts = append(wfts, s.Stats.WorkflowTasks)
			markers = append(markers, s.Stats.Markers)
			bytes = append(bytes, s.Stats.Bytes)
			hops = append(hops, s.Stats.Hops...)
			crit = append(crit, s.Stats.Critical...)
			toTask = append(toTask, s.Stats.ToTask...)
			inTask = append(inTask, s.Stats.InTask...)
			toAct = append(toAct, s.Stats.ToActivity...)
			inst = append(inst, s.Stats.Instance...)
		}
		if row.OK > 0 {
			row.Makespan = Median(spans)
			row.Runs = medianInt(runs)
			row.EventsPerNode = float64(medianInt(events)) / float64(row.Nodes)
			row.WorkflowTasks = medianInt(wfts)
			row.WFTsPerNode = float64(row.WorkflowTasks) / float64(row.Nodes)
			row.MarkersPerRun = medianInt(markers)
			row.HistoryKB = medianInt(bytes) / 1024
			row.Hop, row.Critical = Median(hops), Median(crit)
			row.ToTask, row.InTask, row.ToActivity = Median(toTask), Median(inTask), Median(toAct)
			row.HopPairs = len(hops) / row.OK
			row.InstanceP50, row.InstanceP95 = Median(inst), Percentile(inst, 0.95)
			var startup, handover, finish []time.Duration
			for _, s := range r.Samples {
				if s.Err == nil {
					startup = append(startup, s.Stats.Startup)
					handover = append(handover, s.Stats.Handover)
					finish = append(finish, s.Stats.Finish)
				}
			}
			row.Startup, row.Handover, row.Finish = Median(startup), Median(handover), Median(finish)
		}
		if h := hand[r.Shape.Name]; h != nil && r.Variant != VariantHand && row.OK > 0 {
			var hs []time.Duration
			byRep := map[int]time.Duration{}
			for _, s := range h.Samples {
				if s.Err == nil {
					hs = append(hs, s.Makespan)
					byRep[s.Rep] = s.Makespan
				}
			}
			if len(hs) > 0 {
				row.Ratio = float64(row.Makespan) / float64(Median(hs))
			}
			for _, s := range r.Samples {
				if d, ok := byRep[s.Rep]; ok && s.Err == nil && d > 0 {
					row.RepRatios = append(row.RepRatios, float64(s.Makespan)/float64(d))
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// Percentile is the nearest-rank p-quantile of ds (0 when empty).
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(k, len(s)-1))]
}

// ShellTable is the instance time of the shell shapes' tasks.
func ShellTable(rows []Row) string {
	var b strings.Builder
	b.WriteString("| shape | variant | makespan p50 | ratio vs hand-written | instance p50 (ms) | instance p95 (ms) | hop p50, critical (ms) |\n|---|---|--:|--:|--:|--:|--:|\n")
	n := 0
	for _, r := range rows {
		if !r.Shape.Shell || r.OK == 0 {
			continue
		}
		n++
		ratio := ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f s | %s | %s | %s | %s |\n", r.Shape.Name, r.Variant, r.Makespan.Seconds(), ratio,
			ms(r.InstanceP50), ms(r.InstanceP95), ms(r.Critical))
	}
	if n == 0 {
		return ""
	}
	return b.String()
}

func medianInt(xs []int) int {
	ds := make([]time.Duration, len(xs))
	for i, x := range xs {
		ds[i] = time.Duration(x)
	}
	return int(Median(ds))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// Table renders the main results table in Markdown.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| shape | variant | makespan p50 | ratio vs hand-written | per repetition | runs in chain | events / node | workflow tasks / run | hop p50, all pairs (ms) | hop p50, critical (ms) |\n")
	b.WriteString("|---|---|--:|--:|---|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		if r.OK == 0 {
			fmt.Fprintf(&b, "| %s | %s | **failed** | | | | | | | |\n", r.Shape.Name, r.Variant)
			continue
		}
		ratio, reps := "", ""
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
			parts := make([]string, len(r.RepRatios))
			for i, x := range r.RepRatios {
				parts[i] = fmt.Sprintf("%.2f", x)
			}
			reps = strings.Join(parts, " / ")
		}
		span := fmt.Sprintf("%.2f s", r.Makespan.Seconds())
		if len(r.Errors) > 0 {
			span += fmt.Sprintf(" (%d failed)", len(r.Errors))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | %.2f | %d | %s | %s |\n",
			r.Shape.Name, r.Variant, span, ratio, reps, r.Runs, r.EventsPerNode, r.WorkflowTasks, ms(r.Hop), ms(r.Critical))
	}
	return b.String()
}

// HopTable renders where the critical hop's time goes.
func HopTable(rows []Row) string {
	var b strings.Builder
	b.WriteString("| shape | variant | critical hop p50 | → workflow task started | workflow task (started → completed) | → activity started | workflow tasks / node | local-activity markers / run | history size |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		if r.OK == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %.3f | %d | %d KiB |\n", r.Shape.Name, r.Variant,
			ms(r.Critical), ms(r.ToTask), ms(r.InTask), ms(r.ToActivity), r.WFTsPerNode, r.MarkersPerRun, r.HistoryKB)
	}
	return b.String()
}

// PhaseTable renders where the makespan goes outside the hops: before the
// first task, between the runs of a continue-as-new chain, after the last.
func PhaseTable(rows []Row) string {
	var b strings.Builder
	b.WriteString("| shape | variant | makespan p50 | start → first task started | continue-as-new handovers (sum) | last task done → closed | runs in chain |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|\n")
	for _, r := range rows {
		if r.OK == 0 {
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f s | %s | %s | %s | %d |\n", r.Shape.Name, r.Variant,
			r.Makespan.Seconds(), ms(r.Startup), ms(r.Handover), ms(r.Finish), r.Runs)
	}
	return b.String()
}

// TargetTable checks the targets for shapes with a hand-written
// counterpart.
func TargetTable(rows []Row) string {
	var b strings.Builder
	awaited := false
	for _, r := range rows {
		awaited = awaited || r.Variant == VariantMirrorAwaited
	}
	fmt.Fprintf(&b, "| shape | mirror off (target ≤ %.2f) | mirror on (target ≤ %.2f) |", TargetMirrorOff, TargetMirrorOn)
	if awaited {
		b.WriteString(" mirror on, awaited (before) |\n|---|---|---|---|\n")
	} else {
		b.WriteString("\n|---|---|---|\n")
	}
	type pair struct{ off, on, awaited string }
	var order []string
	got := map[string]*pair{}
	verdict := func(r Row, target float64) string {
		switch {
		case r.OK == 0:
			return "failed"
		case r.Ratio == 0:
			return ""
		case r.Ratio <= target:
			return fmt.Sprintf("%.2f: met", r.Ratio)
		default:
			return fmt.Sprintf("%.2f: **not met**", r.Ratio)
		}
	}
	for _, r := range rows {
		if r.Shape.Hand == HandNone || r.Variant == VariantHand || r.Variant == VariantAlerts {
			continue // the targets are the mirror's; alerts compare with mirror on
		}
		p := got[r.Shape.Name]
		if p == nil {
			p = &pair{off: "not run", on: "not run", awaited: "not run"}
			got[r.Shape.Name] = p
			order = append(order, r.Shape.Name)
		}
		switch r.Variant {
		case VariantMirrorOff:
			p.off = verdict(r, TargetMirrorOff)
		case VariantMirrorAwaited:
			p.awaited = verdict(r, TargetMirrorOn)
		default:
			p.on = verdict(r, TargetMirrorOn)
		}
	}
	for _, name := range order {
		fmt.Fprintf(&b, "| %s | %s | %s |", name, got[name].off, got[name].on)
		if awaited {
			fmt.Fprintf(&b, " %s |", got[name].awaited)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Failures lists every failed run, one Markdown bullet each; "" if none.
func Failures(rows []Row) string {
	var b strings.Builder
	for _, row := range rows {
		for _, e := range row.Errors {
			fmt.Fprintf(&b, "- %s, %s, %s\n", row.Shape.Name, row.Variant, e)
		}
	}
	return b.String()
}

// Machine describes where the benchmark ran.
type Machine struct {
	NumCPU    int
	CPUModel  string
	Uname     string
	GoVersion string
	Temporal  string // server and SDK module versions
	LoadAvg   string
}

// ReadMachine gathers Machine; parts it cannot read say so.
func ReadMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GoVersion: runtime.Version(), CPUModel: "unknown", Uname: "unknown"}
	if out, err := exec.Command("uname", "-a").Output(); err == nil {
		m.Uname = strings.TrimSpace(string(out))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	m.LoadAvg = LoadAvg()
	if bi, ok := debug.ReadBuildInfo(); ok {
		var parts []string
		for _, d := range bi.Deps {
			switch d.Path {
			case "go.temporal.io/server", "go.temporal.io/sdk":
				parts = append(parts, d.Path+" "+d.Version)
			}
		}
		m.Temporal = strings.Join(parts, ", ")
	}
	return m
}

// GitRevision names the checked-out commit, noting uncommitted changes;
// "" outside a git work tree.
func GitRevision() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += " with uncommitted changes"
	}
	return rev
}

// LoadAvg is the 1/5/15-minute load average, or "" where unavailable.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// Report is everything the Markdown document shows.
type Report struct {
	Command   string
	Started   time.Time
	Duration  time.Duration
	Machine   Machine
	LoadAtEnd string
	Reps      int
	Mirror    string
	Quick     bool
	Shapes    []Shape
	Rows      []Row
	Analysis  string // kept from an earlier file, see AnalysisMarker
	// ServerConfig is the -server-config the run overrode, if any.
	ServerConfig string
	Revision     string // the code measured
	// PayloadCodec is the -payload-codec what-if, if any.
	PayloadCodec string
	// ShellConcurrency is the shell worker's activity slots.
	ShellConcurrency int
	// Control is the control shape's figures (nil when not run).
	Control *ControlResult
}

// AnalysisMarker separates the generated part of docs/benchmarks.md from
// the hand-written analysis below it, which regenerating keeps.
const AnalysisMarker = "<!-- analysis: everything below this line is written by hand and kept when the file is regenerated -->"

// Markdown renders the whole document.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("# Benchmark: the flow interpreter against hand-written Temporal workflows\n\n")
	b.WriteString("Generated by `internal/bench` (what `make bench` runs). Everything above the analysis\n")
	b.WriteString("marker is regenerated by running the command again; do not edit it by hand.\n\n")
	fmt.Fprintf(&b, "```sh\n%s\n```\n\n", r.Command)
	fmt.Fprintf(&b, "- Date: %s (took %s)\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Duration.Round(time.Second))
	if r.Revision != "" {
		fmt.Fprintf(&b, "- Code: %s\n", r.Revision)
	}
	fmt.Fprintf(&b, "- Machine: `nproc` %d, %s\n", r.Machine.NumCPU, r.Machine.CPUModel)
	fmt.Fprintf(&b, "- `uname -a`: `%s`\n", r.Machine.Uname)
	fmt.Fprintf(&b, "- Go: %s; %s\n", r.Machine.GoVersion, r.Machine.Temporal)
	fmt.Fprintf(&b, "- Load average (1/5/15 min) at start: %s; at end: %s. The machine is shared with other builds and tests,\n", r.Machine.LoadAvg, r.LoadAtEnd)
	b.WriteString("  so absolute times are noisy: compare the ratios, which pair variants measured side by side.\n")
	fmt.Fprintf(&b, "- Repetitions: %d per shape and variant, interleaved (shape by shape, the variants one after the other,\n", r.Reps)
	b.WriteString("  their order rotated each repetition), after an unreported warm-up. Figures are medians; hop latencies\n")
	b.WriteString("  are medians over every hop of every repetition.\n")
	fmt.Fprintf(&b, "- Mirror: %s", r.Mirror)
	if r.Quick {
		b.WriteString(" (quick shapes: a smoke run, not a measurement)")
	}
	b.WriteString("\n\n")

	b.WriteString("## Set-up\n\n")
	if r.ServerConfig != "" {
		fmt.Fprintf(&b, "One process: an embedded Temporal server (`internal/devstack`, in-memory SQLite, dynamic config overridden: `%s`),\n", r.ServerConfig)
	} else {
		b.WriteString("One process: an embedded Temporal server (`internal/devstack`, in-memory SQLite, its dynamic config as `baton dev` has it),\n")
	}
	b.WriteString("one client and one set of workers shared by every variant, as `baton worker` runs them: a worker on the\n")
	b.WriteString("flows queue `baton-flows` (default options) running the interpreter `baton.Run`, its real mirror local\n")
	fmt.Fprintf(&b, "activity and the hand-written workflows; a worker on `baton-group-default` (MaxConcurrentActivityExecutionSize %d,\n", ActivitySlots)
	b.WriteString("default pollers) whose `baton.ExecuteTask` is a no-op returning `success` at once, so orchestration is\n")
	b.WriteString("all that is measured.\n\n")
	if r.PayloadCodec != "" {
		fmt.Fprintf(&b, "**What-if:** every payload of the client and workers goes through a %s codec (Baton has none).\n\n", r.PayloadCodec)
	}
	b.WriteString("- **interpreter**: `workflows.RunWorkflow` over the generated flow; mirror off (`Mirror:false`) or on\n")
	b.WriteString("  (`Mirror:true`, `activities.Mirror` writing to a SQLite file in a temp dir, run row created first as the\n")
	b.WriteString("  API does). The worker-side \"running\" mirror write of `activities.Tasks` is not part of the no-op task.\n")
	b.WriteString("  Mirror on queues each workflow task's batch on the worker's write-behind queue (`activities.WriteBehind`);\n")
	b.WriteString("  *mirror on, awaited (before)* runs the same interpreter on a second flows worker (`baton-flows-awaited`)\n")
	b.WriteString("  whose mirror activity writes every batch before it answers, as before the queue (`-mirror all`).\n")
	b.WriteString("- **hand-written**: a static workflow per shape (`internal/bench/hand.go`) with the same activity, request\n")
	b.WriteString("  type, task queue and activity options (StartToClose 30 days as for a task without timeout, heartbeat\n")
	b.WriteString("  30 s, one attempt, wait for cancellation) and the same start options (search attributes included).\n")
	b.WriteString("- **makespan**: wall clock from `ExecuteWorkflow` to the result (following continue-as-new).\n")
	b.WriteString("- **events / node**, **workflow tasks / run** (`WorkflowTaskCompleted`), **runs in chain**: summed over the\n")
	b.WriteString("  continue-as-new chain, from `GetWorkflowHistory`; nodes are task nodes (logic nodes run nothing).\n")
	b.WriteString("- **hop**: upstream `ActivityTaskCompleted` → downstream `ActivityTaskStarted`, from event timestamps.\n")
	b.WriteString("  *All pairs* takes every dependency (chain: consecutive nodes; fan-out: first → each and each → last;\n")
	b.WriteString("  layered: every node of layer k → every node of layer k+1), so fan-in pairs include waiting for\n")
	b.WriteString("  siblings. *Critical* takes, per node, only its last upstream to finish: the hop that delays it.\n\n")
	b.WriteString("Shapes:\n\n")
	for _, s := range r.Shapes {
		who := "interpreter and hand-written"
		if s.Hand == HandNone {
			who = "interpreter only"
		}
		fmt.Fprintf(&b, "- `%s`: %s; %s\n", s.Name, s.Describe(), who)
	}
	b.WriteString("\n## Results\n\n")
	b.WriteString(Table(r.Rows))
	b.WriteString("\n## Targets\n\n")
	b.WriteString("Makespan ratio interpreter / hand-written (medians):\n\n")
	b.WriteString(TargetTable(r.Rows))
	b.WriteString("\n## Where a hop goes\n\n")
	b.WriteString("The critical hop split at the workflow task that scheduled the downstream node: from the upstream's\n")
	b.WriteString("completion to that workflow task's start (waiting for a workflow task: one already running must finish\n")
	b.WriteString("first, then matching hands the new one to a poller), the workflow task itself (workflow code, plus the\n")
	b.WriteString("mirror's local activity when on), and from its completion to the activity's start (matching to a poller).\n\n")
	b.WriteString(HopTable(r.Rows))
	b.WriteString("\nOutside the hops (milliseconds, medians): the handover is the time, at each continue-as-new, from the\n")
	b.WriteString("last task completed in one run to the first task started in the next, in which no task runs.\n\n")
	b.WriteString(PhaseTable(r.Rows))
	if t := ShellTable(r.Rows); t != "" {
		fmt.Fprintf(&b, "\n## Shell tasks\n\nReal shell tasks (`%s`) on a worker of group `%s` running `activities.Tasks` as `baton worker` does\n", ShellScript, ShellGroup)
		fmt.Fprintf(&b, "(MaxConcurrentActivityExecutionSize %d, no cgroup: processes tracked through /proc); the instance time is\n", r.ShellConcurrency)
		b.WriteString("ActivityTaskStarted → ActivityTaskCompleted: the running mark (mirror on), the process and its supervision,\n")
		b.WriteString("the outputs file, the log, and the completion call.\n\n")
		b.WriteString(t)
	}
	if t := ControlTable(r.Control); t != "" {
		b.WriteString("\n## Control latency\n\n")
		b.WriteString(t)
	}
	if f := Failures(r.Rows); f != "" {
		b.WriteString("\n## Failures\n\n")
		b.WriteString(f)
	}
	b.WriteString("\n")
	b.WriteString(AnalysisMarker)
	b.WriteString("\n")
	b.WriteString(r.Analysis)
	return b.String()
}

// KeptAnalysis returns what follows AnalysisMarker in the file at path, so
// regenerating the document keeps the hand-written analysis.
func KeptAnalysis(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	_, tail, ok := strings.Cut(string(b), AnalysisMarker+"\n")
	if !ok {
		return "", nil
	}
	return tail, nil
}

// CPUProfile starts a CPU profile written to path; stop ends and closes
// it. An empty path profiles nothing (stop does nothing).
func CPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
