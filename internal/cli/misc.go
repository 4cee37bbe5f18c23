package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (a *app) loginCmd() *cobra.Command {
	var addr, token string
	c := &cobra.Command{
		Use:   "login --addr URL --token T",
		Short: "Check a token against the API and save both in the config file",
		Long: "Check the token against the API and save the address and token in the config file\n" +
			"($" + envConfig + ", else baton/config.yaml in the user's config directory), readable by you only.\n" +
			"Without --token the token is read from stdin. " + envAddr + " and " + envToken + " override the file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			addr = first(addr, a.opts.Getenv(envAddr))
			if addr == "" {
				return usagef("--addr is required: the API's URL, e.g. http://127.0.0.1:8080")
			}
			if token == "" {
				var err error
				if token, err = readToken(cmd); err != nil {
					return err
				}
			}
			cl := &Client{Addr: normalizeAddr(addr), Token: token, HTTP: a.opts.HTTP}
			if err := checkLogin(ctx, cl); err != nil {
				return err
			}
			path, err := configPath(a.opts.Getenv)
			if err != nil {
				return err
			}
			if err := saveConfig(path, fileConfig{Addr: cl.Addr, Token: token}); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "logged in to %s; saved to %s\n", cl.Addr, path)
			for _, v := range []string{envAddr, envToken} {
				if a.opts.Getenv(v) != "" {
					fmt.Fprintf(cmd.ErrOrStderr(), "note: %s is set and overrides the saved value\n", v)
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&addr, "addr", "", "the API's URL (http://host:8080)")
	c.Flags().StringVar(&token, "token", "", "the bearer token (default: read from stdin)")
	return c
}

// readToken reads the token from stdin, without echo on a terminal.
func readToken(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "token: ")
		raw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read token: %w", err)
		}
		return strings.TrimSpace(string(raw)), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read token from stdin: %w", err)
	}
	if t := strings.TrimSpace(line); t != "" {
		return t, nil
	}
	return "", usagef("--token is required (or give it on stdin)")
}

// checkLogin makes sure the address is a Baton API and the token opens it.
func checkLogin(ctx context.Context, cl *Client) error {
	if _, err := cl.call(ctx, http.MethodGet, "/healthz", nil, nil, nil); err != nil {
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status == http.StatusNotFound {
			return fmt.Errorf("login: %s does not answer as a Baton API: %w", cl.Addr, err)
		}
		// A 503 (mirror down) still proves it is Baton; the token check says the rest.
	}
	_, err := cl.call(ctx, http.MethodGet, "/api/v1/workers", url.Values{"limit": {"1"}}, nil, nil)
	if isStatus(err, http.StatusUnauthorized) {
		return fmt.Errorf("login: %s refused the token: %w", cl.Addr, err)
	}
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	return nil
}

func (a *app) cronCmd() *cobra.Command {
	c := &cobra.Command{Use: "cron", Short: "Preview triggers"}
	var (
		tz, from, interval, phase string
		n                         int
	)
	next := &cobra.Command{
		Use:   "next EXPR | --interval D",
		Short: "The next fire times of a Quartz cron expression (or a fixed rate)",
		Example: `  baton cron next "0 30 22 * * ?" --tz Asia/Shanghai -n 5
  baton cron next --interval 90m --phase 15m`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			switch {
			case interval != "" && len(args) == 0:
				q.Set("type", "fixed_rate")
				q.Set("interval", interval)
				setQuery(q, "phase", phase)
			case interval == "" && len(args) == 1:
				q.Set("expr", args[0])
			default:
				return usagef("give either a cron expression or --interval")
			}
			setQuery(q, "tz", tz)
			setQuery(q, "from", from)
			setInt(q, "n", n)
			cl, err := a.client()
			if err != nil {
				return err
			}
			var p struct {
				Timezone string   `json:"timezone"`
				Next     []string `json:"next"`
			}
			raw, err := cl.call(cmd.Context(), http.MethodGet, "/api/v1/cron/preview", q, nil, &p)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error {
				for _, t := range p.Next {
					if _, err := fmt.Fprintln(w, t); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	next.Flags().StringVar(&tz, "tz", "", "time zone (default UTC)")
	next.Flags().IntVarP(&n, "count", "n", 10, "how many fire times")
	next.Flags().StringVar(&from, "from", "", "after this RFC 3339 time (default now)")
	next.Flags().StringVar(&interval, "interval", "", "a fixed rate instead of an expression (90m, 2d)")
	next.Flags().StringVar(&phase, "phase", "", "the fixed rate's phase (15m)")
	c.AddCommand(next)
	return c
}

func (a *app) workersCmd() *cobra.Command {
	var (
		group         string
		limit, offset int
	)
	c := &cobra.Command{
		Use:   "workers",
		Short: "List the workers that reported in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			type worker struct {
				ID        string     `json:"id"`
				Group     string     `json:"group"`
				Host      string     `json:"host"`
				PID       int        `json:"pid"`
				Running   int        `json:"running"`
				StartedAt *time.Time `json:"started_at"`
				LastSeen  *time.Time `json:"last_seen"`
			}
			return listTable(a, cmd, "/api/v1/workers", pageQuery(limit, offset, "group", group), offset,
				[]string{"ID", "GROUP", "HOST", "PID", "RUNNING", "STARTED", "LAST SEEN"},
				func(wk worker) []any {
					return []any{wk.ID, wk.Group, wk.Host, wk.PID, wk.Running, ts(wk.StartedAt), ts(wk.LastSeen)}
				})
		},
	}
	c.Flags().StringVar(&group, "group", "", "only this group")
	pageFlags(c, &limit, &offset)
	return c
}

func (a *app) auditCmd() *cobra.Command {
	var (
		actor         string
		filters       []string
		limit, offset int
	)
	c := &cobra.Command{
		Use:   "audit",
		Short: "List the audit log, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := pageQuery(limit, offset, "actor", actor)
			for _, f := range filters {
				k, v, ok := strings.Cut(f, "=")
				if !ok || k == "" {
					return usagef("--filter must be param=value, got %q", f)
				}
				q.Add(k, v)
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			var page listPage[map[string]json.RawMessage]
			raw, err := cl.call(cmd.Context(), http.MethodGet, "/api/v1/audit", q, nil, &page)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			return a.emit(w, raw, func() error { return writeAudit(w, page.Items, page.Total, offset, deref(page.NextCursor)) })
		},
	}
	c.Flags().StringVar(&actor, "actor", "", "only calls by this token name")
	c.Flags().StringArrayVar(&filters, "filter", nil, "any other filter of GET /api/v1/audit, param=value (repeatable)")
	pageFlags(c, &limit, &offset)
	return c
}

// auditColumns are shown when the API's rows carry them; rows are read as
// maps so that fields the audit gains show without a CLI change.
var auditColumns = []string{"at", "actor", "action", "method", "path", "target", "result", "status", "request_id"}

func writeAudit(w io.Writer, rows []map[string]json.RawMessage, total int64, offset int, next string) error {
	var cols []string
	for _, c := range auditColumns {
		for _, r := range rows {
			if v, ok := r[c]; ok && string(v) != "null" && string(v) != `""` {
				cols = append(cols, c)
				break
			}
		}
	}
	headers := make([]string, len(cols))
	for i, c := range cols {
		headers[i] = strings.ToUpper(strings.ReplaceAll(c, "_", " "))
	}
	t := newTable(w, headers...)
	for _, r := range rows {
		cells := make([]any, len(cols))
		for i, c := range cols {
			cells[i] = auditCell(c, r[c])
		}
		t.row(cells...)
	}
	if err := t.flush(); err != nil {
		return err
	}
	return pageFooter(w, len(rows), total, offset, next)
}

func auditCell(col string, raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return "-"
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if col == "at" {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return ts(&t)
			}
		}
		return dash(s)
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		// A target or result object: its values, in a stable order.
		var parts []string
		for _, k := range []string{"kind", "id", "node", "code"} {
			if v, ok := obj[k]; ok && fmt.Sprint(v) != "" {
				parts = append(parts, fmt.Sprint(v))
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "/")
		}
	}
	return truncate(string(raw), 60)
}
