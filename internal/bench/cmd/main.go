// Command bench compares the flow interpreter with hand-written Temporal
// workflows on one embedded Temporal server (`make bench`). It prints a
// Markdown table; -out also writes the full report (docs/benchmarks.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"

	"github.com/baton-sched/baton/internal/bench"
	"github.com/baton-sched/baton/internal/devstack"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/models"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	reps := flag.Int("reps", 3, "repetitions of every shape and variant")
	shapes := flag.String("shapes", "", "comma-separated name filter (substring), e.g. chain,fanout-1000; empty runs all")
	mirror := flag.String("mirror", "both", "interpreter variants to run: off, on, both, or all (both, and the mirror awaited in the workflow task as before the write-behind queue)")
	alerts := flag.Bool("alerts", false, "also run the interpreter with the mirror on and alert rules that never fire on success (a failure rule and an SLA)")
	quick := flag.Bool("quick", false, "small shapes, for a smoke run")
	controlOps := flag.Int("control-ops", bench.ControlOps, "control operations the control shape times (-shapes control runs it alone; 0 skips it)")
	out := flag.String("out", "", "also write the full Markdown report to this file (e.g. docs/benchmarks.md)")
	runTimeout := flag.Duration("run-timeout", 20*time.Minute, "limit for one workflow run")
	revision := flag.String("revision", "", "what code is measured, for the report (default: from git)")
	serverConfig := flag.String("server-config", "", "Temporal dynamic config overrides, key=value[,key=value] (default: none, as `baton dev`)")
	codec := flag.String("payload-codec", "", "what-if: \"zlib\" compresses every payload of the client and workers (default: none, as Baton has it)")
	historyDir := flag.String("history-dir", "", "write every measured run's history as JSON into this directory")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole process (server, workers, client) to this file")
	shellConcurrency := flag.Int("shell-concurrency", 16, "MaxConcurrentActivityExecutionSize of the shell shapes' worker (BATON_WORKER_CONCURRENCY; its default is 16)")
	flag.Parse()
	dyn, err := parseDynamicConfig(*serverConfig)
	if err != nil {
		return err
	}
	var dc converter.DataConverter
	switch *codec {
	case "":
	case "zlib":
		dc = converter.NewCodecDataConverter(converter.GetDefaultDataConverter(),
			converter.NewZlibCodec(converter.ZlibCodecOptions{AlwaysEncode: true}))
	default:
		return fmt.Errorf("-payload-codec must be empty or zlib, not %q", *codec)
	}
	switch *mirror {
	case "off", "on", "both", "all":
	default:
		return fmt.Errorf("-mirror must be off, on, both or all, not %q", *mirror)
	}
	if *alerts && *mirror == "off" {
		return errors.New("-alerts runs with the mirror on: use -mirror on or both")
	}
	filter, withControl, withShapes := bench.SplitControl(*shapes)
	var list []bench.Shape
	if withShapes {
		if list, err = bench.FilterShapes(bench.Shapes(*quick), filter); err != nil {
			return err
		}
	}
	if *controlOps <= 0 {
		withControl = false
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	rep := &bench.Report{
		Command: command(os.Args[1:]),
		Started: time.Now(), Machine: bench.ReadMachine(),
		Reps: *reps, Mirror: *mirror, Quick: *quick, Shapes: list, ServerConfig: *serverConfig,
		Revision: *revision, PayloadCodec: *codec, ShellConcurrency: *shellConcurrency,
	}
	if rep.Revision == "" {
		rep.Revision = bench.GitRevision()
	}
	if *out != "" {
		// Read it now: a bad path should fail before minutes of running.
		if rep.Analysis, err = bench.KeptAnalysis(*out); err != nil {
			return err
		}
	}

	srv, err := devstack.Start(devstack.Options{
		FrontendAddr: "127.0.0.1:0", Namespace: "default", SearchAttributes: engine.SearchAttributes(),
		DynamicConfig: dyn,
	})
	if err != nil {
		return fmt.Errorf("start temporal: %w", err)
	}
	defer srv.Stop()
	// SDK warnings (e.g. a potential deadlock or a blob-size warning) are
	// findings; routine chatter is not.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var c client.Client
	if dc == nil {
		c, err = engine.Dial(ctx, srv.FrontendAddr(), "default", logger, 30*time.Second)
	} else {
		// The what-if compresses every payload, not only large ones as engine.Dial does: it dials itself.
		c, err = client.DialContext(ctx, client.Options{HostPort: srv.FrontendAddr(), Namespace: "default",
			Logger: tlog.NewStructuredLogger(logger), DataConverter: dc})
	}
	if err != nil {
		return fmt.Errorf("dial temporal: %w", err)
	}
	defer c.Close()

	dir, err := os.MkdirTemp("", "baton-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	store, err := models.Open(ctx, "sqlite:"+filepath.Join(dir, "mirror.db"))
	if err != nil {
		return err
	}
	defer func() { _ = store.Close() }()
	if err := store.Migrate(ctx); err != nil {
		return err
	}

	stopProfile, err := bench.CPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()

	stopWorkers, err := bench.StartWorkers(c, store, *shellConcurrency)
	if err != nil {
		return err
	}
	defer stopWorkers()

	var results []*bench.Result
	if len(list) > 0 {
		results, err = bench.Run(ctx, bench.Options{
			Client: c, Store: store, Shapes: list, Reps: *reps, Mirror: *mirror, Alerts: *alerts,
			Progress: os.Stderr, RunTimeout: *runTimeout, DataConverter: dc, HistoryDir: *historyDir,
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	if withControl && err == nil {
		rep.Control, err = bench.RunControl(ctx, bench.ControlOptions{Client: c, Store: store, Ops: *controlOps, Progress: os.Stderr})
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	rep.Duration, rep.LoadAtEnd = time.Since(rep.Started), bench.LoadAvg()
	rep.Rows = bench.Summarize(results)
	if len(rep.Rows) > 0 {
		fmt.Println(bench.Table(rep.Rows))
		fmt.Println(bench.TargetTable(rep.Rows))
		fmt.Println(bench.HopTable(rep.Rows))
		fmt.Println(bench.PhaseTable(rep.Rows))
		fmt.Println(bench.ShellTable(rep.Rows))
	}
	fmt.Println(bench.ControlTable(rep.Control))
	if f := bench.Failures(rep.Rows); f != "" {
		fmt.Println("Failures:")
		fmt.Println(f)
	}
	if *out != "" {
		if werr := os.WriteFile(*out, []byte(rep.Markdown()), 0o644); werr != nil {
			return fmt.Errorf("write report: %w", werr)
		}
		fmt.Fprintln(os.Stderr, "wrote", *out)
	}
	if err != nil {
		return err
	}
	for _, r := range rep.Rows {
		if len(r.Errors) > 0 {
			return fmt.Errorf("%s, %s: %d run(s) failed", r.Shape.Name, r.Variant, len(r.Errors))
		}
	}
	return nil
}

// parseDynamicConfig reads key=value pairs; values that parse as integers,
// booleans or durations are passed as such, as the server expects.
func parseDynamicConfig(s string) (map[string]any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[string]any{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("-server-config: %q is not key=value", kv)
		}
		if i, err := strconv.Atoi(v); err == nil {
			out[k] = i
		} else if b, err := strconv.ParseBool(v); err == nil {
			out[k] = b
		} else if d, err := time.ParseDuration(v); err == nil {
			out[k] = d
		} else {
			out[k] = v
		}
	}
	return out, nil
}

// command spells the invocation as a shell command that repeats it.
func command(args []string) string {
	parts := []string{"go run ./internal/bench/cmd"}
	for _, a := range args {
		if strings.ContainsAny(a, " \t'\"$`\\;&|<>()*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
