package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitUsage   = 2
	ExitRefused = 3 // the API answered 409: the operation is not allowed now
)

// usageError is a command line the CLI cannot act on.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// Options configure the client commands; the zero value uses the process
// environment.
type Options struct {
	// Getenv reads BATON_ADDR, BATON_TOKEN, BATON_CONFIG and
	// XDG_CONFIG_HOME; nil is os.Getenv.
	Getenv func(string) string
	// HTTP is the client for API calls; nil is http.DefaultClient.
	HTTP *http.Client
	// PollInterval is how long --follow waits before it connects to the
	// run's event stream again (after the stream ended or dropped) and
	// between tries of a failed read; 0 is 500 ms.
	PollInterval time.Duration
}

// app holds what every client command shares: the global flags and how to
// reach the API.
type app struct {
	opts   Options
	output string
	addr   string
	token  string
	idem   string
}

// Commands returns the client commands, to be added to the root command.
func Commands(o Options) []*cobra.Command {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	a := &app{opts: o}
	cmds := []*cobra.Command{
		a.loginCmd(),
		a.definitionCmd(flowKind),
		a.definitionCmd(taskKind),
		a.runsCmd(),
		a.backfillCmd(),
		a.cronCmd(),
		a.workersCmd(),
		a.auditCmd(),
	}
	for _, c := range cmds {
		if c.Name() != "login" {
			a.globalFlags(c)
		}
		usageArgs(c)
	}
	return cmds
}

func (a *app) globalFlags(c *cobra.Command) {
	f := c.PersistentFlags()
	f.StringVarP(&a.output, "output", "o", outTable, "output format: table, json or yaml")
	f.StringVar(&a.addr, "addr", "", "API address (overrides "+envAddr+" and the config file)")
	f.StringVar(&a.token, "token", "", "API token (overrides "+envToken+" and the config file)")
	f.StringVar(&a.idem, "idempotency-key", "", "Idempotency-Key of this call (default: a new one per invocation)")
}

// usageArgs makes argument errors usage errors (exit 2), everywhere in the
// tree.
func usageArgs(c *cobra.Command) {
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				return &usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// client builds the API client of this invocation.
func (a *app) client() (*Client, error) {
	if err := validOutput(a.output); err != nil {
		return nil, err
	}
	addr, token, err := resolveTarget(a.opts.Getenv, a.addr, a.token)
	if err != nil {
		return nil, err
	}
	key := a.idem
	if key == "" {
		key = uuid.NewString()
	}
	return &Client{Addr: addr, Token: token, HTTP: a.opts.HTTP, IdempotencyKey: key}, nil
}

// human says whether to print tables rather than the API's answer.
func (a *app) human() bool { return a.output == outTable }

// emit prints an answer: raw as JSON/YAML, or through render as a table.
func (a *app) emit(w io.Writer, raw []byte, render func() error) error {
	if a.human() {
		return render()
	}
	return printRaw(w, a.output, raw)
}

// Execute runs root with the process arguments (or those set with
// SetArgs), prints an error the way the CLI does and returns the exit code.
func Execute(ctx context.Context, root *cobra.Command) int {
	root.SilenceErrors, root.SilenceUsage = true, true
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{fmt.Errorf("%w\nsee '%s --help'", err, c.CommandPath())}
	})
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	PrintError(root.ErrOrStderr(), err)
	return ExitCode(err)
}

// ExitCode maps an error to the CLI's exit code.
func ExitCode(err error) int {
	var (
		apiErr *APIError
		usage  *usageError
	)
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
		return ExitRefused
	case errors.As(err, &usage), isCobraUsage(err):
		return ExitUsage
	}
	return ExitError
}

// isCobraUsage recognises the errors cobra makes itself for a command it
// cannot find; it has no error type for them.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command ") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag")
}

// PrintError prints err for a person: an API error with its status, code,
// message and what its details name (offending nodes, problems).
func PrintError(w io.Writer, err error) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		fmt.Fprintln(w, "baton:", err)
		return
	}
	fmt.Fprintf(w, "baton: %s (HTTP %d): %s\n", apiErr.Code, apiErr.Status, apiErr.Message)
	for _, line := range detailLines(apiErr.Details) {
		if !strings.Contains(apiErr.Message, line) { // a lone problem is the message already
			fmt.Fprintln(w, "  "+line)
		}
	}
}
