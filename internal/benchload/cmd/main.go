// Command benchload is `make bench-load`: concurrent flow runs with control
// operations against a real `baton dev`, checked for lost records, with
// throughput, API latency, mirror lag and memory (see package benchload).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/baton-sched/baton/internal/benchload"
)

func main() {
	var o benchload.Options
	flag.StringVar(&o.Bin, "bin", "bin/baton", "the baton binary to run as `baton dev`")
	flag.StringVar(&o.Dir, "dir", "", "work directory (default: a new temporary one, removed at the end)")
	flag.IntVar(&o.Runs, "runs", 200, "concurrent flow runs per batch")
	flag.IntVar(&o.Nodes, "nodes", 20, "nodes per flow (a multiple of 5)")
	flag.DurationVar(&o.Duration, "duration", 0, "soak: repeat batches until this much time has passed (0: one batch)")
	flag.DurationVar(&o.Within, "within", 15*time.Minute, "bound of one batch and of its convergence check")
	flag.Parse()
	if o.Nodes < 10 || o.Nodes%5 != 0 || o.Runs < 1 {
		fmt.Fprintln(os.Stderr, "benchload: -nodes must be a multiple of 5, at least 10, and -runs at least 1")
		os.Exit(2)
	}
	if o.Dir == "" {
		dir, err := os.MkdirTemp("", "baton-load-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchload:", err)
			os.Exit(1)
		}
		defer func() { _ = os.RemoveAll(dir) }()
		o.Dir = dir
	}
	o.Progress = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := benchload.Run(ctx, o)
	if rep != nil {
		fmt.Print(rep.Markdown(o))
	}
	lost := 0
	if rep != nil {
		for _, b := range rep.Batches {
			lost += b.Lost
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchload:", err)
		os.Exit(1)
	}
	if lost > 0 {
		fmt.Fprintf(os.Stderr, "benchload: %d runs with lost or wrong records\n", lost)
		os.Exit(1)
	}
}
