package cli

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/baton-sched/baton/internal/cli/apiclient"
	"github.com/baton-sched/baton/internal/status"
)

func runPath(id string, parts ...string) string {
	return apiPath("/api/v1/runs", append([]string{id}, parts...)...)
}

func (a *app) runsCmd() *cobra.Command {
	c := &cobra.Command{Use: "runs", Short: "List, show and operate runs; read their logs"}
	c.AddCommand(a.runsListCmd(), a.runsStatsCmd(), a.runsShowCmd(), a.runsLogsCmd(), a.runsRerunCmd(), a.runsDownstreamCmd(),
		a.runsNodeCmd(), a.runsInstanceCmd())
	for _, op := range []struct{ op, short string }{
		{"stop", "Stop runs (several ids: one batch call)"},
		{"pause", "Pause a run: nothing new is dispatched"},
		{"resume", "Resume a paused run"},
		{"retry", "Retry every failed node of runs (several ids: one batch call)"},
		{"rollback", "Roll a failed or stopped run back (compensations, in reverse)"},
		{"abandon", "Give a failed run up for good"},
	} {
		c.AddCommand(a.runOpCmd(op.op, op.short))
	}
	return c
}

// runFilters are the flags of the runs list filters, named like the API's
// query parameters (batch-id is batch_id).
type runFilters struct {
	values   map[string]*string
	statuses []string
}

func addRunFilters(c *cobra.Command) *runFilters {
	f := &runFilters{values: map[string]*string{}}
	for _, fl := range []struct{ name, usage string }{
		{"group", "worker group"},
		{"definition", "definition id, or part of its name"},
		{"kind", "task or flow"},
		{"batch-id", "run id (a batch)"},
		{"trigger", "cron, fixed_rate, manual, api, flow, rerun, backfill or test"},
		{"initiator", "who started it (token name)"},
		{"bizdate-from", "business dates from YYYY-MM-DD"},
		{"bizdate-to", "business dates to YYYY-MM-DD"},
		{"created-from", "created at or after (RFC 3339)"},
		{"created-to", "created before (RFC 3339)"},
	} {
		v := new(string)
		f.values[fl.name] = v
		c.Flags().StringVar(v, fl.name, "", fl.usage)
	}
	c.Flags().StringSliceVar(&f.statuses, "status", nil, "run statuses, comma-separated (failed,timeout)")
	return f
}

func (f *runFilters) apply(q url.Values) url.Values {
	for name, v := range f.values {
		setQuery(q, strings.ReplaceAll(name, "-", "_"), *v)
	}
	if len(f.statuses) > 0 {
		q.Set("status", strings.Join(f.statuses, ","))
	}
	return q
}

func (a *app) runsListCmd() *cobra.Command {
	var (
		f             *runFilters
		cursor        string
		limit, offset int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first, with the API's filters",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := f.apply(pageQuery(limit, offset, "cursor", cursor))
			now := time.Now()
			return listTable(a, cmd, "/api/v1/runs", q, offset,
				[]string{"ID", "DEFINITION", "KIND", "STATUS", "TRIGGER", "BIZDATE", "CREATED", "DURATION"},
				func(r runView) []any {
					return []any{r.ID, dash(r.DefinitionName), r.Kind, r.Status, r.Trigger, r.Bizdate, ts(r.CreatedAt), runSpan(r.StartedAt, r.FinishedAt, r.Status, now)}
				})
		},
	}
	f = addRunFilters(c)
	c.Flags().StringVar(&cursor, "cursor", "", "continue after the page that answered this next_cursor")
	pageFlags(c, &limit, &offset)
	return c
}

func (a *app) runsStatsCmd() *cobra.Command {
	var f *runFilters
	c := &cobra.Command{
		Use:   "stats",
		Short: "Count runs per status, with the same filters as list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			var st struct {
				Counts map[string]int64 `json:"counts"`
				Total  int64            `json:"total"`
			}
			raw, err := cl.call(cmd.Context(), http.MethodGet, "/api/v1/runs/stats", f.apply(url.Values{}), nil, &st)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error {
				t := newTable(w, "STATUS", "RUNS")
				for _, s := range status.Runs {
					if n := st.Counts[string(s)]; n > 0 {
						t.row(s, n)
					}
				}
				t.row("total", st.Total)
				return t.flush()
			})
		},
	}
	f = addRunFilters(c)
	return c
}

// runSpan is a run's duration so far, or its whole one once it ended.
func runSpan(started, finished *time.Time, st apiclient.RunStatus, now time.Time) string {
	if !status.Run(st).Terminal() {
		return span(started, nil, now)
	}
	return span(started, finished, now)
}

func (a *app) runsShowCmd() *cobra.Command {
	var live bool
	c := &cobra.Command{
		Use:   "show ID",
		Short: "Show a run and its nodes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			q := setBool(url.Values{}, "live", live)
			var d runDetail
			raw, err := cl.call(cmd.Context(), http.MethodGet, runPath(args[0]), q, nil, &d)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error { return writeRun(w, &d, time.Now()) })
		},
	}
	c.Flags().BoolVar(&live, "live", false, "node states from the workflow itself rather than the mirror")
	return c
}

func writeRun(w io.Writer, d *runDetail, now time.Time) error {
	params := make([]string, 0, len(d.Params))
	for k, v := range d.Params {
		params = append(params, k+"="+v)
	}
	slices.Sort(params)
	if err := fields(w, "run", d.ID, "definition", fmt.Sprintf("%s %s (%s) v%d", d.Kind, d.DefinitionName, d.DefinitionID, d.Version),
		"status", d.Status, "trigger", d.Trigger, "bizdate", d.Bizdate, "initiator", dash(d.Initiator),
		"params", dash(strings.Join(params, " ")), "created", ts(d.CreatedAt), "started", ts(d.StartedAt),
		"finished", ts(d.FinishedAt), "duration", runSpan(d.StartedAt, d.FinishedAt, d.Status, now), "message", dash(d.Message)); err != nil {
		return err
	}
	if d.ParentRunID != "" {
		fmt.Fprintf(w, "parent run: %s\n", d.ParentRunID)
	}
	fmt.Fprintln(w)
	t := newTable(w, "NODE", "STATUS", "ATTEMPTS", "STARTED", "DURATION", "MESSAGE")
	for _, n := range d.Nodes {
		st := n.Status
		if n.Forced {
			st += " (forced)"
		}
		end := n.FinishedAt
		if !status.Node(n.Status).Terminal() {
			end = nil
		}
		t.row(n.ID, st, n.Attempts, ts(n.StartedAt), span(n.StartedAt, end, now), dash(truncate(n.Message, 80)))
	}
	return t.flush()
}

// opFlags are the flags of a control operation.
type opFlags struct {
	reason string
	dryRun bool
	follow bool
}

func (o *opFlags) add(c *cobra.Command, reason, dryRun bool) {
	if reason {
		c.Flags().StringVar(&o.reason, "reason", "", "why (recorded with the run's transitions and the audit)")
	}
	if dryRun {
		c.Flags().BoolVar(&o.dryRun, "dry-run", false, "show what the operation would touch, change nothing")
	}
	c.Flags().BoolVar(&o.follow, "follow", false, "watch the run until it ends")
}

func (o *opFlags) body() any {
	if o.reason == "" {
		return nil
	}
	return map[string]string{"reason": o.reason}
}

func (o *opFlags) query() url.Values { return setBool(url.Values{}, "dry_run", o.dryRun) }

func (a *app) runOpCmd(op, short string) *cobra.Command {
	var o opFlags
	args := cobra.ExactArgs(1)
	use := op + " ID"
	batch := op == "stop" || op == "retry"
	if batch {
		args, use = cobra.MinimumNArgs(1), op+" ID..."
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, ids []string) error {
			if len(ids) > 1 {
				if o.follow {
					return usagef("--follow watches one run; %s was given %d", op, len(ids))
				}
				return a.batchOp(cmd, op, ids, &o)
			}
			return a.operate(cmd, ids[0], fmt.Sprintf("%s run %s", op, ids[0]), runPath(ids[0], op), o.body(), &o)
		},
	}
	o.add(c, true, true)
	return c
}

// operate sends one control operation, prints its answer and follows the
// run when asked.
func (a *app) operate(cmd *cobra.Command, runID, what, path string, body any, o *opFlags) error {
	ctx := cmd.Context()
	cl, err := a.client()
	if err != nil {
		return err
	}
	var ans opAnswer
	raw, err := cl.call(ctx, http.MethodPost, path, o.query(), body, &ans)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if !o.follow || o.dryRun {
		return a.emit(w, raw, func() error { return writeOp(w, what, &ans) })
	}
	out := a.followOut(w, cmd.ErrOrStderr())
	if err := writeOp(out, what, &ans); err != nil {
		return err
	}
	f := a.newFollower(cl, out)
	if ans.Run != nil && status.Run(ans.Run.Status).Terminal() {
		f.stale = ans.Run.FinishedAt
	}
	d, last, err := f.follow(ctx, runID)
	if err != nil {
		return err
	}
	return a.followResult(w, d, last)
}

func writeOp(w io.Writer, what string, ans *opAnswer) error {
	nodes := ans.Plan.Nodes
	if len(nodes) == 0 {
		nodes = ans.Nodes
	}
	var touched []string
	if len(nodes) > 0 {
		touched = append(touched, "nodes "+strings.Join(nodes, ", "))
	}
	if len(ans.Plan.Instances) > 0 {
		touched = append(touched, "instances "+strings.Join(ans.Plan.Instances, ", "))
	}
	if len(touched) == 0 {
		touched = []string{"the run itself"} // pause, resume: no node changes state at once
	}
	if ans.DryRun {
		_, err := fmt.Fprintf(w, "dry run: %s would touch %s\n", what, strings.Join(touched, "; "))
		return err
	}
	line := fmt.Sprintf("%s: applied to %s", what, strings.Join(touched, "; "))
	if ans.Run != nil {
		line += "; the run is " + string(ans.Run.Status)
	}
	_, err := fmt.Fprintln(w, line)
	return err
}

// batchOp stops or retries several runs in one call; each run answers on
// its own, and any refusal makes the exit code 1.
func (a *app) batchOp(cmd *cobra.Command, op string, ids []string, o *opFlags) error {
	cl, err := a.client()
	if err != nil {
		return err
	}
	body := map[string]any{"ids": ids}
	if o.reason != "" {
		body["reason"] = o.reason
	}
	var ans struct {
		DryRun  bool `json:"dry_run"`
		Results []struct {
			ID     string `json:"id"`
			OK     bool   `json:"ok"`
			Status string `json:"status"`
			Plan   *struct {
				Nodes []string `json:"nodes"`
			} `json:"plan"`
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		} `json:"results"`
	}
	raw, err := cl.call(cmd.Context(), http.MethodPost, "/api/v1/runs/batch/"+op, o.query(), body, &ans)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range ans.Results {
		if !r.OK {
			failed++
		}
	}
	w := cmd.OutOrStdout()
	err = a.emit(w, raw, func() error {
		t := newTable(w, "RUN", "RESULT", "STATUS", "DETAIL")
		for _, r := range ans.Results {
			switch {
			case !r.OK && r.Error != nil:
				t.row(r.ID, r.Error.Code, "-", truncate(r.Error.Message, 100))
			case r.Plan != nil:
				t.row(r.ID, "would apply", dash(r.Status), "nodes "+dash(strings.Join(r.Plan.Nodes, ", ")))
			default:
				t.row(r.ID, "applied", dash(r.Status), "")
			}
		}
		return t.flush()
	})
	if err != nil {
		return err
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d runs refused or failed", op, failed, len(ans.Results))
	}
	return nil
}

func (a *app) runsRerunCmd() *cobra.Command {
	var (
		params []string
		follow bool
	)
	c := &cobra.Command{
		Use:   "rerun ID",
		Short: "Start a new run of what a finished run ran (same version and params)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := parseParams(params)
			if err != nil {
				return err
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			var body any
			if p != nil {
				body = map[string]any{"params": p}
			}
			var run runView
			raw, err := cl.call(cmd.Context(), http.MethodPost, runPath(args[0], "rerun"), nil, body, &run)
			if err != nil {
				return err
			}
			return a.afterStart(cmd, cl, raw, &run, follow)
		},
	}
	c.Flags().StringArrayVar(&params, "param", nil, "override a param key=value (repeatable)")
	c.Flags().BoolVar(&follow, "follow", false, "watch the new run until it ends")
	return c
}

func (a *app) runsDownstreamCmd() *cobra.Command {
	var (
		o     opFlags
		nodes []string
	)
	c := &cobra.Command{
		Use:   "rerun-downstream ID --nodes a,b",
		Short: "Run the chosen nodes and everything downstream of them again",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(nodes) == 0 {
				return usagef("--nodes is required: the nodes to rerun from")
			}
			body := map[string]any{"nodes": nodes}
			if o.reason != "" {
				body["reason"] = o.reason
			}
			return a.operate(cmd, args[0], "rerun-downstream of run "+args[0], runPath(args[0], "rerun-downstream"), body, &o)
		},
	}
	c.Flags().StringSliceVar(&nodes, "nodes", nil, "node ids, comma-separated")
	o.add(c, true, true)
	return c
}

// nodeOps are the operations of `runs node ID NODE OP`.
var nodeOps = []string{"stop", "pause", "resume", "retry", "skip", "rerun-from"}

func (a *app) runsNodeCmd() *cobra.Command {
	var o opFlags
	c := &cobra.Command{
		Use:   "node ID NODE " + strings.Join(nodeOps, "|"),
		Short: "Operate one node of a run",
		Long: "Operate one node of a run: stop, pause, resume, retry or skip it, or rerun from it\n" +
			"(a reset to where it was first dispatched; also works on closed runs).",
		Args:      cobra.ExactArgs(3),
		ValidArgs: nodeOps,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, node, op := args[0], args[1], args[2]
			if !slices.Contains(nodeOps, op) {
				return usagef("unknown node operation %q: use %s", op, strings.Join(nodeOps, ", "))
			}
			return a.operate(cmd, id, fmt.Sprintf("%s node %s of run %s", op, node, id), runPath(id, "nodes", node, op), o.body(), &o)
		},
	}
	o.add(c, true, true)
	return c
}

func (a *app) runsInstanceCmd() *cobra.Command {
	var o opFlags
	ops := []string{"stop", "rerun"}
	c := &cobra.Command{
		Use:       "instance INSTANCE stop|rerun",
		Short:     "Stop one instance, or run one instance again (a shard, a broadcast target)",
		Args:      cobra.ExactArgs(2),
		ValidArgs: ops,
		RunE: func(cmd *cobra.Command, args []string) error {
			id, op := args[0], args[1]
			if !slices.Contains(ops, op) {
				return usagef("unknown instance operation %q: use stop or rerun", op)
			}
			// Instance ids start with their run's id, as the API finds the run.
			runID, _, _ := strings.Cut(id, ".")
			return a.operate(cmd, runID, fmt.Sprintf("%s instance %s", op, id), apiPath("/api/v1/instances", id, op), o.body(), &o)
		},
	}
	o.add(c, true, true)
	return c
}

func (a *app) runsLogsCmd() *cobra.Command {
	var (
		node, archive string
		follow        bool
	)
	c := &cobra.Command{
		Use:   "logs ID [--node N] [-f]",
		Short: "Print the output of a run's nodes (the latest attempt of each shard)",
		Long: "Print the output of a run's nodes: the latest attempt of each shard, of every node or of --node.\n" +
			"With -f, stream the node's output until it finishes, waiting for it to be dispatched first.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			if archive != "" {
				if node != "" || follow {
					return usagef("--archive saves every log of the run: it takes neither --node nor -f")
				}
				return saveArchive(cmd, cl, args[0], archive)
			}
			return a.logs(cmd.Context(), cl, cmd.OutOrStdout(), args[0], node, follow)
		},
	}
	c.Flags().StringVar(&archive, "archive", "", "save a zip of every instance log of the run (and run.json) to this file")
	c.Flags().StringVar(&node, "node", "", "only this node")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "stream the output as it is written")
	return c
}

// saveArchive downloads the run's log archive into file, through a
// temporary file so that a failed download leaves no truncated zip.
func saveArchive(cmd *cobra.Command, cl *Client, runID, file string) error {
	resp, err := cl.stream(cmd.Context(), runPath(runID, "logs"), nil)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	tmp, err := os.CreateTemp(filepath.Dir(file), ".baton-logs-*.zip")
	if err != nil {
		return fmt.Errorf("save archive: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // a no-op after the rename
	n, err := io.Copy(tmp, resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("save archive of run %s: %w", runID, err)
	}
	// The server streams the zip as it reads the logs; one that failed on
	// the way ends without its directory, which only opening it shows.
	zr, err := zip.OpenReader(tmp.Name())
	if err != nil {
		return fmt.Errorf("the log archive of run %s is incomplete (the server failed while writing it): %w", runID, err)
	}
	_ = zr.Close()
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fmt.Errorf("save archive: %w", err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "saved %s (%d bytes)\n", file, n)
	return err
}

// latestInstances are the newest attempt of each shard of the node.
func latestInstances(n *nodeView) []instanceView {
	byShard := map[int]instanceView{}
	for _, in := range n.Instances {
		if cur, ok := byShard[in.ShardIndex]; !ok || in.Attempt >= cur.Attempt {
			byShard[in.ShardIndex] = in
		}
	}
	out := make([]instanceView, 0, len(byShard))
	for _, in := range byShard {
		out = append(out, in)
	}
	slices.SortFunc(out, func(x, y instanceView) int { return x.ShardIndex - y.ShardIndex })
	return out
}

func (a *app) logs(ctx context.Context, cl *Client, w io.Writer, runID, node string, follow bool) error {
	var d runDetail
	if _, err := cl.call(ctx, http.MethodGet, runPath(runID), nil, nil, &d); err != nil {
		return err
	}
	if node == "" && len(d.Nodes) == 1 {
		node = d.Nodes[0].ID
	}
	if follow {
		if node == "" {
			return usagef("-f follows one node: choose it with --node")
		}
		return a.followLogs(ctx, cl, w, runID, node, &d)
	}
	var targets []instanceView
	for i := range d.Nodes {
		if node == "" || d.Nodes[i].ID == node {
			targets = append(targets, latestInstances(&d.Nodes[i])...)
		}
	}
	if node != "" && nodeOf(&d, node) == nil {
		return fmt.Errorf("run %s has no node %q", runID, node)
	}
	for _, in := range targets {
		if len(targets) > 1 {
			fmt.Fprintf(w, "==> %s shard %d attempt %d (%s) <==\n", in.NodeID, in.ShardIndex, in.Attempt, in.Status)
		}
		if err := readLog(ctx, cl, w, in.ID); err != nil {
			return err
		}
	}
	return nil
}

// readLog prints an instance's whole stored output, page by page.
func readLog(ctx context.Context, cl *Client, w io.Writer, id string) error {
	path := apiPath("/api/v1/instances", id, "log")
	for offset := int64(0); ; {
		a, err := cl.do(ctx, http.MethodGet, path, url.Values{"offset": {strconv.FormatInt(offset, 10)}}, nil)
		if err != nil {
			return err
		}
		if _, err := w.Write(a.body); err != nil {
			return err
		}
		next, err1 := strconv.ParseInt(a.header.Get("X-Next-Offset"), 10, 64)
		size, err2 := strconv.ParseInt(a.header.Get("X-Log-Size"), 10, 64)
		if err1 != nil || err2 != nil || len(a.body) == 0 || next >= size {
			return nil
		}
		offset = next
	}
}

// followLogs waits for the node's newest instance and streams its output;
// a stream the API closes before the instance ended (its time limit) is
// resumed from where it stopped.
func (a *app) followLogs(ctx context.Context, cl *Client, w io.Writer, runID, node string, d *runDetail) error {
	for {
		n := nodeOf(d, node)
		if n != nil && tailable(n) {
			break
		}
		if status.Run(d.Status).Terminal() {
			switch {
			case n == nil:
				return fmt.Errorf("run %s has no node %q", runID, node)
			case len(n.Instances) == 0:
				return fmt.Errorf("node %s of run %s never ran (%s)", node, runID, n.Status)
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.opts.PollInterval):
		}
		if _, err := cl.call(ctx, http.MethodGet, runPath(runID), nil, nil, d); err != nil {
			return err
		}
	}
	insts := latestInstances(nodeOf(d, node))
	for _, in := range insts {
		if len(insts) > 1 {
			fmt.Fprintf(w, "==> %s shard %d attempt %d <==\n", in.NodeID, in.ShardIndex, in.Attempt)
		}
		if err := streamLog(ctx, cl, w, in.ID); err != nil {
			return err
		}
	}
	return nil
}

// tailable says whether the node's latest attempt is the one to tail: it
// runs, or the node is done. A node about to run again (retried, its last
// attempt ended) waits for its next attempt instead.
func tailable(n *nodeView) bool {
	if len(n.Instances) == 0 {
		return false
	}
	if status.Node(n.Status).Terminal() {
		return true
	}
	for _, in := range latestInstances(n) {
		if !status.Instance(in.Status).Terminal() {
			return true
		}
	}
	return false
}

func streamLog(ctx context.Context, cl *Client, w io.Writer, id string) error {
	path := apiPath("/api/v1/instances", id, "log")
	var offset int64
	for {
		resp, err := cl.stream(ctx, path, url.Values{"follow": {"true"}, "offset": {strconv.FormatInt(offset, 10)}})
		if err != nil {
			return err
		}
		n, err := io.Copy(w, resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow log of %s: %w", id, err)
		}
		offset += n
		st := resp.Trailer.Get("X-Instance-Status")
		if st == "" || status.Instance(st).Terminal() || errors.Is(ctx.Err(), context.Canceled) {
			return nil
		}
	}
}
