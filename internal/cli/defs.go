package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/baton-sched/baton/internal/dag"
)

// defKind is tasks or flows: the two share every command.
type defKind struct {
	name   string // flow or task
	plural string
}

var (
	flowKind = defKind{name: "flow", plural: "flows"}
	taskKind = defKind{name: "task", plural: "tasks"}
)

func (k defKind) path(parts ...string) string {
	return apiPath("/api/v1/"+k.plural, parts...)
}

// spec decodes a definition body (a view of the API or a file) into the
// part that is versioned, for diffs.
func (k defKind) diff(old, cur []byte) (Diff, error) {
	if k.name == "flow" {
		var o, c dag.Flow
		if len(old) > 0 {
			if err := json.Unmarshal(old, &o); err != nil {
				return Diff{}, fmt.Errorf("decode flow: %w", err)
			}
		}
		if err := json.Unmarshal(cur, &c); err != nil {
			return Diff{}, fmt.Errorf("decode flow: %w", err)
		}
		return diffFlows(o, c), nil
	}
	var o, c dag.Task
	if len(old) > 0 {
		if err := json.Unmarshal(old, &o); err != nil {
			return Diff{}, fmt.Errorf("decode task: %w", err)
		}
	}
	if err := json.Unmarshal(cur, &c); err != nil {
		return Diff{}, fmt.Errorf("decode task: %w", err)
	}
	return diffTasks(o, c), nil
}

func (a *app) definitionCmd(k defKind) *cobra.Command {
	c := &cobra.Command{Use: k.plural, Short: "Manage " + k.plural + ": apply, list, diff, enable, run, ..."}
	c.AddCommand(a.applyCmd(k), a.defListCmd(k), a.defGetCmd(k), a.defVersionsCmd(k), a.defDiffCmd(k),
		a.defToggleCmd(k, true), a.defToggleCmd(k, false), a.defDeleteCmd(k), a.defRunCmd(k))
	return c
}

// readBody reads a definition or request file, JSON or YAML ("-" is
// stdin), as JSON.
func readBody(cmd *cobra.Command, file string) ([]byte, error) {
	if file == "" {
		return nil, usagef("-f is required: a JSON or YAML file, or - for stdin")
	}
	var (
		raw []byte
		err error
	)
	if file == "-" {
		raw, err = io.ReadAll(cmd.InOrStdin())
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s is neither JSON nor YAML: %w", file, err)
	}
	return js, nil
}

// resolve finds a definition by id or, failing that, by exact name. It
// returns the id and the definition's current view.
func (a *app) resolve(ctx context.Context, c *Client, k defKind, ref string) (string, []byte, error) {
	raw, err := c.call(ctx, http.MethodGet, k.path(ref), nil, nil, nil)
	if err == nil {
		return ref, raw, nil
	}
	if !isStatus(err, http.StatusNotFound) {
		return "", nil, err
	}
	id, found, ferr := a.findByName(ctx, c, k, ref)
	if ferr != nil {
		return "", nil, ferr
	}
	if !found {
		return "", nil, err
	}
	raw, err = c.call(ctx, http.MethodGet, k.path(id), nil, nil, nil)
	return id, raw, err
}

// definition starts every command on one definition: the client, and the
// id and current view of the definition ref names.
func (a *app) definition(ctx context.Context, k defKind, ref string) (*Client, string, []byte, error) {
	cl, err := a.client()
	if err != nil {
		return nil, "", nil, err
	}
	id, raw, err := a.resolve(ctx, cl, k, ref)
	return cl, id, raw, err
}

// findByName looks a definition up by exact name; the API's name filter
// is a substring match (or the id).
func (a *app) findByName(ctx context.Context, c *Client, k defKind, name string) (string, bool, error) {
	var page listPage[defSummary]
	if _, err := c.call(ctx, http.MethodGet, k.path(), url.Values{"name": {name}, "limit": {"500"}}, nil, &page); err != nil {
		return "", false, err
	}
	var ids []string
	for _, d := range page.Items {
		if d.Name == name {
			ids = append(ids, d.ID)
		}
	}
	switch len(ids) {
	case 0:
		return "", false, nil
	case 1:
		return ids[0], true, nil
	}
	return "", false, fmt.Errorf("%d %ss are named %q (%s): use an id", len(ids), k.name, name, strings.Join(ids, ", "))
}

// applyResult is what apply prints with -o json.
type applyResult struct {
	Action          string          `json:"action"` // created, updated, unchanged, or would-... with --dry-run
	ID              string          `json:"id,omitempty"`
	Name            string          `json:"name"`
	Version         int             `json:"version,omitempty"`
	PreviousVersion int             `json:"previous_version,omitempty"`
	Diff            Diff            `json:"diff"`
	Definition      json.RawMessage `json:"definition,omitempty"`
}

func (a *app) applyCmd(k defKind) *cobra.Command {
	var (
		file   string
		dryRun bool
	)
	c := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Create or update a " + k.name + " by name (or id) from a JSON or YAML file",
		Long: "Create the " + k.name + " when none has its name (or the id the file gives), else save its new version.\n" +
			"Prints the version and what changed against the previous one; an identical file saves nothing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cl, err := a.client()
			if err != nil {
				return err
			}
			body, err := readBody(cmd, file)
			if err != nil {
				return err
			}
			var head struct {
				ID   string `json:"id"`
				Name string `json:"name"`
			}
			if err := json.Unmarshal(body, &head); err != nil {
				return fmt.Errorf("%s: the %s must be an object: %w", file, k.name, err)
			}
			if head.Name == "" && head.ID == "" {
				return fmt.Errorf("%s: the %s has no name (nor id) to apply it by", file, k.name)
			}
			res, err := a.apply(ctx, cl, k, body, head.ID, head.Name, dryRun)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !a.human() {
				return printValue(w, a.output, res)
			}
			switch res.Action {
			case "unchanged":
				fmt.Fprintf(w, "%s %s (%s) unchanged at version %d\n", k.name, res.Name, res.ID, res.Version)
				return nil
			case "created":
				fmt.Fprintf(w, "%s %s created (%s), version %d\n", k.name, res.Name, res.ID, res.Version)
			case "updated":
				fmt.Fprintf(w, "%s %s (%s) updated: version %d -> %d (%s)\n", k.name, res.Name, res.ID,
					res.PreviousVersion, res.Version, res.Diff.summary())
			case "would-create":
				fmt.Fprintf(w, "%s %s is valid and would be created\n", k.name, res.Name)
			case "would-update":
				fmt.Fprintf(w, "%s %s (%s) is valid; version %d would become %d (%s)\n", k.name, res.Name, res.ID,
					res.PreviousVersion, res.PreviousVersion+1, res.Diff.summary())
			}
			created := res.Action == "created" || res.Action == "would-create"
			if !created || !res.Diff.Empty() {
				if err := writeDiff(w, res.Diff); err != nil {
					return err
				}
			}
			var saved struct {
				ImportedTasks []string `json:"imported_tasks"`
			}
			if json.Unmarshal(res.Definition, &saved) == nil && len(saved.ImportedTasks) > 0 {
				fmt.Fprintf(w, "tasks now run only inside flows: %s\n", strings.Join(saved.ImportedTasks, ", "))
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the "+k.name+" as JSON or YAML (- for stdin)")
	if k.name == "flow" {
		c.Flags().BoolVar(&dryRun, "dry-run", false, "validate on the server and show the changes, save nothing")
	}
	return c
}

func (a *app) apply(ctx context.Context, cl *Client, k defKind, body []byte, id, name string, dryRun bool) (*applyResult, error) {
	res := &applyResult{Name: name}
	var cur []byte
	switch {
	case id != "":
		raw, err := cl.call(ctx, http.MethodGet, k.path(id), nil, nil, nil)
		switch {
		case err == nil:
			cur = raw
		case !isStatus(err, http.StatusNotFound):
			return nil, err
		}
	default:
		found, ok, err := a.findByName(ctx, cl, k, name)
		if err != nil {
			return nil, err
		}
		if ok {
			id = found
			if cur, err = cl.call(ctx, http.MethodGet, k.path(id), nil, nil, nil); err != nil {
				return nil, err
			}
		}
	}
	diff, err := k.diff(cur, body)
	if err != nil {
		return nil, err
	}
	if cur == nil {
		// Against nothing every field is new; the nodes and edges say enough.
		diff.Fields = []string{}
	}
	res.Diff = diff
	var meta struct {
		Version int    `json:"version"`
		Name    string `json:"name"`
	}
	if cur != nil {
		_ = json.Unmarshal(cur, &meta)
		res.ID, res.PreviousVersion = id, meta.Version
		if res.Name == "" {
			res.Name = meta.Name
		}
		if diff.Empty() {
			res.Action, res.Version, res.PreviousVersion, res.Definition = "unchanged", meta.Version, 0, cur
			return res, nil
		}
	}
	if dryRun {
		// Only flows have a validate route; apply offers --dry-run for them only.
		if _, err := cl.call(ctx, http.MethodPost, k.path("validate"), nil, body, nil); err != nil {
			return nil, err
		}
		res.Action = "would-create"
		if cur != nil {
			res.Action = "would-update"
		}
		return res, nil
	}
	var (
		saved []byte
		out   struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
	)
	if cur == nil {
		res.Action = "created"
		saved, err = cl.call(ctx, http.MethodPost, k.path(), nil, body, &out)
	} else {
		res.Action = "updated"
		saved, err = cl.call(ctx, http.MethodPut, k.path(id), nil, body, &out)
	}
	if err != nil {
		return nil, err
	}
	res.ID, res.Version, res.Definition = out.ID, out.Version, saved
	return res, nil
}

func (a *app) defListCmd(k defKind) *cobra.Command {
	var (
		name, group   string
		deleted       bool
		limit, offset int
	)
	c := &cobra.Command{
		Use:   "list",
		Short: "List " + k.plural,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := setBool(pageQuery(limit, offset, "name", name, "group", group), "include_deleted", deleted)
			return listTable(a, cmd, k.path(), q, offset, []string{"ID", "NAME", "GROUP", "VERSION", "ENABLED", "TRIGGER", "UPDATED"},
				func(d defSummary) []any {
					enabled := strconv.FormatBool(d.Enabled)
					if d.DeletedAt != nil {
						enabled = "deleted"
					}
					return []any{d.ID, d.Name, d.Group, d.Version, enabled, d.TriggerType, ts(d.UpdatedAt)}
				})
		},
	}
	c.Flags().StringVar(&name, "name", "", "names containing this (or this id)")
	c.Flags().StringVar(&group, "group", "", "only this group")
	c.Flags().BoolVar(&deleted, "include-deleted", false, "list deleted "+k.plural+" too")
	pageFlags(c, &limit, &offset)
	return c
}

func pageFlags(c *cobra.Command, limit, offset *int) {
	c.Flags().IntVar(limit, "limit", 0, "page size (the API's default 50, at most 500)")
	c.Flags().IntVar(offset, "offset", 0, "rows to skip")
}

// pageQuery is the query of a list: the filters given as name, value
// pairs (empty ones left out) and the page.
func pageQuery(limit, offset int, filters ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(filters); i += 2 {
		setQuery(q, filters[i], filters[i+1])
	}
	setInt(q, "limit", limit)
	setInt(q, "offset", offset)
	return q
}

// listTable fetches one page of a list and prints it: a table with a row
// per item and a footer saying how to go on, or the answer with -o.
func listTable[T any](a *app, cmd *cobra.Command, path string, q url.Values, offset int, headers []string, row func(T) []any) error {
	cl, err := a.client()
	if err != nil {
		return err
	}
	var page listPage[T]
	raw, err := cl.call(cmd.Context(), http.MethodGet, path, q, nil, &page)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	return a.emit(w, raw, func() error {
		t := newTable(w, headers...)
		for _, item := range page.Items {
			t.row(row(item)...)
		}
		if err := t.flush(); err != nil {
			return err
		}
		return pageFooter(w, len(page.Items), page.Total, offset, deref(page.NextCursor))
	})
}

func setQuery(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

// setBool sets a true/false query parameter only when it is true, the
// API's default being false.
func setBool(q url.Values, k string, v bool) url.Values {
	if v {
		q.Set(k, "true")
	}
	return q
}

func setInt(q url.Values, k string, v int) {
	if v != 0 {
		q.Set(k, strconv.Itoa(v))
	}
}

// pageFooter says how much of the list the page shows and how to go on.
func pageFooter(w io.Writer, n int, total int64, offset int, next string) error {
	var err error
	switch {
	case next != "":
		_, err = fmt.Fprintf(w, "%d shown; next page: --cursor %s\n", n, next)
	case int64(offset+n) < total:
		_, err = fmt.Fprintf(w, "%d-%d of %d; next page: --offset %d\n", offset+1, offset+n, total, offset+n)
	case n == 0:
		_, err = fmt.Fprintln(w, "none")
	}
	return err
}

// defView is the part of a definition's view the get table shows.
type defView struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Group     string `json:"group"`
	Version   int    `json:"version"`
	Enabled   bool   `json:"enabled"`
	UpdatedBy string `json:"updated_by"`
	Kind      string `json:"kind"`
	Trigger   *struct {
		Type     string `json:"type"`
		Cron     string `json:"cron"`
		Interval string `json:"interval"`
		Timezone string `json:"timezone"`
	} `json:"trigger"`
	Nodes []dag.Node `json:"nodes"`
	Edges []dag.Edge `json:"edges"`
}

func (a *app) defGetCmd(k defKind) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID|NAME",
		Short: "Show a " + k.name + "'s current version (-o yaml for the whole definition)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, _, raw, err := a.definition(cmd.Context(), k, args[0])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error { return writeDefinition(w, k, raw) })
		},
	}
}

func writeDefinition(w io.Writer, k defKind, raw []byte) error {
	var v defView
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decode %s: %w", k.name, err)
	}
	trigger := "manual"
	if t := v.Trigger; t != nil && t.Type != "" {
		trigger = strings.TrimSpace(t.Type + " " + t.Cron + t.Interval + " " + t.Timezone)
	}
	kv := []any{"id", v.ID, "name", v.Name, "group", dash(v.Group), "version", v.Version,
		"enabled", v.Enabled, "trigger", trigger, "updated by", dash(v.UpdatedBy)}
	if k.name == "task" {
		kv = append(kv, "kind", v.Kind)
	}
	if err := fields(w, kv...); err != nil {
		return err
	}
	if k.name != "flow" {
		return nil
	}
	fmt.Fprintln(w)
	t := newTable(w, "NODE", "TYPE", "TASK", "UPSTREAM")
	up := map[string][]string{}
	for _, e := range v.Edges {
		on := ""
		if e.Condition() != dag.OnSuccess {
			on = ":" + string(e.Condition())
		}
		up[e.To] = append(up[e.To], e.From+on)
	}
	for _, n := range v.Nodes {
		task := n.TaskID
		if n.Task != nil {
			task = "inline " + n.Task.Kind
		}
		t.row(n.ID, n.EffectiveType(), dash(task), dash(strings.Join(up[n.ID], ", ")))
	}
	return t.flush()
}

func (a *app) defVersionsCmd(k defKind) *cobra.Command {
	var limit, offset int
	c := &cobra.Command{
		Use:   "versions ID|NAME",
		Short: "List a " + k.name + "'s saved versions, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, id, _, err := a.definition(cmd.Context(), k, args[0])
			if err != nil {
				return err
			}
			type version struct {
				Version   int        `json:"version"`
				CreatedAt *time.Time `json:"created_at"`
				CreatedBy string     `json:"created_by"`
			}
			return listTable(a, cmd, k.path(id, "versions"), pageQuery(limit, offset), offset, []string{"VERSION", "SAVED", "BY"},
				func(v version) []any { return []any{v.Version, ts(v.CreatedAt), v.CreatedBy} })
		},
	}
	pageFlags(c, &limit, &offset)
	return c
}

func (a *app) defDiffCmd(k defKind) *cobra.Command {
	return &cobra.Command{
		Use:   "diff ID|NAME V1 V2",
		Short: "Show what changed from version V1 to V2",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var vs [2]int
			for i, s := range args[1:] {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					return usagef("version must be a positive integer, got %q", s)
				}
				vs[i] = n
			}
			cl, id, _, err := a.definition(ctx, k, args[0])
			if err != nil {
				return err
			}
			var specs [2][]byte
			for i, v := range vs {
				var item map[string]json.RawMessage
				if _, err := cl.call(ctx, http.MethodGet, k.path(id, "versions", strconv.Itoa(v)), nil, nil, &item); err != nil {
					return err
				}
				specs[i] = item[k.name]
			}
			d, err := k.diff(specs[0], specs[1])
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !a.human() {
				return printValue(w, a.output, d)
			}
			return writeDiff(w, d)
		},
	}
}

func (a *app) defToggleCmd(k defKind, enable bool) *cobra.Command {
	verb, short := "disable", "Stop the "+k.name+"'s trigger from firing (runs once still work)"
	if enable {
		verb, short = "enable", "Let the "+k.name+"'s trigger fire"
	}
	return &cobra.Command{
		Use:   verb + " ID|NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, _, err := a.definition(cmd.Context(), k, args[0])
			if err != nil {
				return err
			}
			var v defView
			raw, err := cl.call(cmd.Context(), http.MethodPost, k.path(id, verb), nil, nil, &v)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error {
				_, err := fmt.Fprintf(w, "%s %s (%s) %sd at version %d\n", k.name, v.Name, v.ID, verb, v.Version)
				return err
			})
		},
	}
}

func (a *app) defDeleteCmd(k defKind) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|NAME",
		Short: "Delete a " + k.name + " (its versions stay readable; started runs go on)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, id, _, err := a.definition(cmd.Context(), k, args[0])
			if err != nil {
				return err
			}
			if _, err := cl.call(cmd.Context(), http.MethodDelete, k.path(id), nil, nil, nil); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if !a.human() {
				return printValue(w, a.output, map[string]any{"id": id, "deleted": true})
			}
			_, err = fmt.Fprintf(w, "%s %s deleted\n", k.name, id)
			return err
		},
	}
}

// parseParams reads repeated --param k=v.
func parseParams(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--param must be key=value, got %q", kv)
		}
		out[k] = v
	}
	return out, nil
}

func (a *app) defRunCmd(k defKind) *cobra.Command {
	var (
		bizdate string
		params  []string
		test    bool
		follow  bool
	)
	c := &cobra.Command{
		Use:   "run ID|NAME",
		Short: "Run the " + k.name + "'s current version once",
		Long: "Run the " + k.name + "'s current version once, enabled or not.\n" +
			"With --follow, watch it to the end; the exit code is then 1 unless the run succeeded.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := parseParams(params)
			if err != nil {
				return err
			}
			cl, id, _, err := a.definition(ctx, k, args[0])
			if err != nil {
				return err
			}
			body := map[string]any{"test": test}
			if bizdate != "" {
				body["bizdate"] = bizdate
			}
			if p != nil {
				body["params"] = p
			}
			var run runView
			raw, err := cl.call(ctx, http.MethodPost, k.path(id, "runs"), nil, body, &run)
			if err != nil {
				return err
			}
			return a.afterStart(cmd, cl, raw, &run, follow)
		},
	}
	c.Flags().StringVar(&bizdate, "bizdate", "", "business date YYYY-MM-DD (default: today in the trigger's time zone)")
	c.Flags().StringArrayVar(&params, "param", nil, "a param key=value (repeatable); overrides the definition's")
	c.Flags().BoolVar(&test, "test", false, "a test run (trigger test)")
	c.Flags().BoolVar(&follow, "follow", false, "watch the run until it ends")
	return c
}

// afterStart reports a started run and follows it when asked.
func (a *app) afterStart(cmd *cobra.Command, cl *Client, raw []byte, run *runView, follow bool) error {
	w := cmd.OutOrStdout()
	if !follow {
		return a.emit(w, raw, func() error {
			_, err := fmt.Fprintf(w, "run %s started: %s %s v%d, bizdate %s, trigger %s\n", run.ID, run.Kind,
				run.DefinitionName, run.Version, run.Bizdate, run.Trigger)
			return err
		})
	}
	out := a.followOut(w, cmd.ErrOrStderr())
	fmt.Fprintf(out, "run %s started: %s %s v%d, bizdate %s\n", run.ID, run.Kind, run.DefinitionName, run.Version, run.Bizdate)
	d, last, err := a.newFollower(cl, out).follow(cmd.Context(), run.ID)
	if err != nil {
		return err
	}
	return a.followResult(w, d, last)
}
