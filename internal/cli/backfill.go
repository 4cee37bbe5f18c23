package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func backfillPath(parts ...string) string {
	return apiPath("/api/v1/backfills", parts...)
}

func (a *app) backfillCmd() *cobra.Command {
	c := &cobra.Command{Use: "backfill", Aliases: []string{"backfills"}, Short: "Run a definition once per business date of a range"}
	c.AddCommand(a.backfillCreateCmd(), a.backfillListCmd(), a.backfillShowCmd())
	for _, op := range []struct{ op, short string }{
		{"pause", "Pause a backfill: no new date starts"},
		{"resume", "Resume a paused backfill"},
		{"stop", "Stop a backfill and its running dates"},
		{"retry", "Run the failed dates of a backfill again"},
	} {
		c.AddCommand(a.backfillOpCmd(op.op, op.short))
	}
	return c
}

func (a *app) backfillCreateCmd() *cobra.Command {
	var (
		file, kind, def, from, to, step, order string
		parallel                               int
		nodes, params                          []string
		downstream, dryRun                     bool
	)
	c := &cobra.Command{
		Use:   "create --definition ID|NAME --from DATE --to DATE",
		Short: "Start a backfill (or -f a JSON/YAML request body)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cl, err := a.client()
			if err != nil {
				return err
			}
			var body any
			if file != "" {
				if body, err = readBody(cmd, file); err != nil {
					return err
				}
			} else {
				if def == "" || from == "" || to == "" {
					return usagef("--definition, --from and --to are required (or -f a request body)")
				}
				k := flowKind
				switch kind {
				case "flow":
				case "task":
					k = taskKind
				default:
					return usagef("--kind must be flow or task, got %q", kind)
				}
				id, _, err := a.resolve(ctx, cl, k, def)
				if err != nil {
					return err
				}
				p, err := parseParams(params)
				if err != nil {
					return err
				}
				b := map[string]any{"kind": kind, "definition_id": id, "from": from, "to": to}
				for k, v := range map[string]string{"step": step, "order": order} {
					if v != "" {
						b[k] = v
					}
				}
				if parallel != 0 {
					b["parallel"] = parallel
				}
				if len(nodes) > 0 {
					b["nodes"] = nodes
				}
				if downstream {
					b["downstream"] = true
				}
				if p != nil {
					b["params"] = p
				}
				body = b
			}
			q := setBool(url.Values{}, "dry_run", dryRun)
			raw, err := cl.call(ctx, http.MethodPost, backfillPath(), q, body, nil)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error {
				if dryRun {
					var p struct {
						Dates    []string `json:"dates"`
						Nodes    []string `json:"nodes"`
						Runs     int      `json:"runs"`
						NodeRuns int      `json:"node_runs"`
						Version  int      `json:"version"`
						Parallel int      `json:"parallel"`
					}
					if err := json.Unmarshal(raw, &p); err != nil {
						return fmt.Errorf("decode dry run: %w", err)
					}
					_, err := fmt.Fprintf(w, "dry run: %d runs (%d node runs) of version %d, %d at a time\ndates: %s\nnodes: %s\n",
						p.Runs, p.NodeRuns, p.Version, p.Parallel, strings.Join(p.Dates, " "), strings.Join(p.Nodes, ", "))
					return err
				}
				return writeBackfill(w, raw)
			})
		},
	}
	f := c.Flags()
	f.StringVarP(&file, "file", "f", "", "the request body as JSON or YAML (- for stdin) instead of the flags")
	f.StringVar(&kind, "kind", "flow", "flow or task")
	f.StringVar(&def, "definition", "", "the flow or task, by id or name")
	f.StringVar(&from, "from", "", "first business date YYYY-MM-DD")
	f.StringVar(&to, "to", "", "last business date YYYY-MM-DD")
	f.StringVar(&step, "step", "", "step between dates (default 1d)")
	f.StringVar(&order, "order", "", "asc or desc (default asc)")
	f.IntVar(&parallel, "parallel", 0, "dates run at once (default 1)")
	f.StringSliceVar(&nodes, "nodes", nil, "only these nodes of the flow, comma-separated")
	f.BoolVar(&downstream, "downstream", false, "with --nodes: and everything downstream of them")
	f.StringArrayVar(&params, "param", nil, "a param key=value (repeatable)")
	f.BoolVar(&dryRun, "dry-run", false, "show the dates and nodes it would run, start nothing")
	return c
}

func writeBackfill(w io.Writer, raw []byte) error {
	var b backfillView
	if err := json.Unmarshal(raw, &b); err != nil {
		return fmt.Errorf("decode backfill: %w", err)
	}
	if err := fields(w, "backfill", b.ID, "definition", fmt.Sprintf("%s %s (%s) v%d", b.Kind, b.DefinitionName, b.DefinitionID, b.Version),
		"status", b.Status, "dates", fmt.Sprintf("%d: %d done, %d failed, %d running, %d waiting", b.Total, b.Done, b.Failed, b.Running, b.Waiting),
		"initiator", dash(b.Initiator), "created", ts(b.CreatedAt)); err != nil {
		return err
	}
	if b.Dates == nil || len(*b.Dates) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "BIZDATE", "STATUS", "RUN", "ATTEMPT", "RUN STATUS")
	for _, d := range *b.Dates {
		attempt := "-"
		if d.Attempt != nil && *d.Attempt > 0 {
			attempt = fmt.Sprint(*d.Attempt)
		}
		runID, runStatus := "", ""
		if d.RunID != nil {
			runID = *d.RunID
		}
		if d.RunStatus != nil {
			runStatus = string(*d.RunStatus)
		}
		t.row(d.Bizdate.String(), d.Status, dash(runID), attempt, dash(runStatus))
	}
	return t.flush()
}

func (a *app) backfillListCmd() *cobra.Command {
	var (
		def           string
		limit, offset int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List backfills, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return listTable(a, cmd, backfillPath(), pageQuery(limit, offset, "definition", def), offset,
				[]string{"ID", "DEFINITION", "STATUS", "DATES", "DONE", "FAILED", "RUNNING", "WAITING", "CREATED"},
				func(b backfillView) []any {
					return []any{b.ID, dash(b.DefinitionName), b.Status, b.Total, b.Done, b.Failed, b.Running, b.Waiting, ts(b.CreatedAt)}
				})
		},
	}
	c.Flags().StringVar(&def, "definition", "", "only backfills of this definition id")
	pageFlags(c, &limit, &offset)
	return c
}

func (a *app) backfillShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show a backfill and each of its dates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			raw, err := cl.call(cmd.Context(), http.MethodGet, backfillPath(args[0]), nil, nil, nil)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error { return writeBackfill(w, raw) })
		},
	}
}

func (a *app) backfillOpCmd(op, short string) *cobra.Command {
	var dryRun bool
	c := &cobra.Command{
		Use:   op + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := a.client()
			if err != nil {
				return err
			}
			q := setBool(url.Values{}, "dry_run", dryRun)
			raw, err := cl.call(cmd.Context(), http.MethodPost, backfillPath(args[0], op), q, nil, nil)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error {
				if dryRun {
					var p struct {
						Status string   `json:"status"`
						Dates  []string `json:"dates"`
					}
					if err := json.Unmarshal(raw, &p); err != nil {
						return fmt.Errorf("decode dry run: %w", err)
					}
					_, err := fmt.Fprintf(w, "dry run: %s of backfill %s (%s) would touch dates: %s\n", op, args[0], p.Status, dash(strings.Join(p.Dates, " ")))
					return err
				}
				return writeBackfill(w, raw)
			})
		},
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "show the dates the operation would touch, change nothing")
	return c
}
