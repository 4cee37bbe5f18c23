// Command baton is Baton's one binary: `dev` runs the whole system in one
// process; `api`, `worker` and `migrate` are the production roles.
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
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "baton",
		Short:         "Baton: distributed task scheduler and workflow orchestrator on Temporal",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(devCmd(), apiCmd(), workerCmd(), migrateCmd(), &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Run:   func(*cobra.Command, []string) { fmt.Println(version) },
	})
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "baton:", err)
		os.Exit(1)
	}
}
