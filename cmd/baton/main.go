// Command baton is Baton's one binary: `dev` runs the whole system in one
// process; `api`, `worker` and `migrate` are the production roles; the
// other commands are the API's command line client (internal/cli).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// Time zones of triggers and bizdates must not depend on the host's
	// zoneinfo (slim containers have none).
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/baton-sched/baton/internal/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:   "baton",
		Short: "Baton: distributed task scheduler and workflow orchestrator on Temporal",
	}
	root.AddCommand(devCmd(), apiCmd(), workerCmd(), migrateCmd(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(*cobra.Command, []string) { fmt.Println(version) },
	})
	root.AddCommand(cli.Commands(cli.Options{})...)
	code := cli.Execute(ctx, root)
	stop()
	os.Exit(code)
}
