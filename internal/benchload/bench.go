package benchload

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/reconcile"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// Options configure a load bench.
type Options struct {
	Bin   string // the baton binary
	Dir   string // work directory (data dir, marks, log)
	Runs  int    // concurrent runs per batch
	Nodes int    // nodes per flow (a multiple of 5)
	// Duration > 0 makes a soak: batches back to back until it has passed.
	Duration time.Duration
	// Within bounds one batch and its convergence check.
	Within time.Duration
	// Env adds BATON_* variables to `baton dev`.
	Env      []string
	Progress func(format string, args ...any)
}

// MemSample is the resident memory of `baton dev` at one time.
type MemSample struct {
	At       time.Duration // since the stack started
	RSS      int64
	HeapLive int64 // go_memstats_heap_inuse_bytes, 0 when unknown
}

// BatchReport is what one batch measured.
type BatchReport struct {
	Runs, Lost        int
	Refused, Retried  int
	Wall              time.Duration
	RunsPerMin        float64
	TransitionsPerSec float64
	APIP99            time.Duration               // every API call of the batch
	Classes           map[string][3]time.Duration // p50, p95, p99 by call class
	Calls             map[string]int
	ServerErrors      int
	MirrorLagP99      float64 // upper bound of the bucket holding the 99th percentile, seconds
	MirrorLagCount    int
	// Footprint per run: mirror rows, task log bytes, Temporal history
	// events and mirror writes (one transaction each).
	RowsPerRun, LogBytesPerRun, EventsPerRun, WritesPerRun float64
	// ByMix is each mix's run time (start to final status): runs, p50, max.
	ByMix              map[string]mixTimes
	RSSAfter, HeapLive int64
	Problems           []string // the first few
}

type mixTimes struct {
	Runs     int
	P50, Max time.Duration
}

// Report is a whole bench.
type Report struct {
	Batches []BatchReport
	Memory  []MemSample
	Started time.Time
	Wall    time.Duration
}

// Run starts `baton dev`, drives batches and checks each.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Progress == nil {
		o.Progress = func(string, ...any) {}
	}
	dataDir := filepath.Join(o.Dir, "data")
	marks := filepath.Join(o.Dir, "marks")
	if err := os.MkdirAll(marks, 0o777); err != nil {
		return nil, fmt.Errorf("load bench: %w", err)
	}
	// The task user may differ from ours: the scripts must write here.
	if err := os.Chmod(marks, 0o777); err != nil {
		return nil, fmt.Errorf("load bench: %w", err)
	}
	st, err := StartStack(ctx, o.Bin, dataDir, o.Env)
	if err != nil {
		return nil, err
	}
	defer st.Stop()
	o.Progress("baton dev is up (pid %d, %s)", st.Pid(), st.Base)
	rep := &Report{Started: time.Now()}

	var memMu sync.Mutex
	sample := func() {
		rss, err := st.RSS()
		if err != nil {
			return
		}
		heap := scrapeGauge(st.Base, "go_memstats_heap_inuse_bytes")
		memMu.Lock()
		rep.Memory = append(rep.Memory, MemSample{At: time.Since(rep.Started), RSS: rss, HeapLive: int64(heap)})
		memMu.Unlock()
	}
	stopMem := make(chan struct{})
	memDone := make(chan struct{})
	go func() {
		defer close(memDone)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			sample()
			select {
			case <-stopMem:
				return
			case <-t.C:
			}
		}
	}()
	defer func() { close(stopMem); <-memDone }()

	c := newClient(st.Base, st.Token)
	var flow struct {
		ID string `json:"id"`
	}
	if _, err := c.do(ctx, "setup", http.MethodPost, "/api/v1/flows", Flow("load-"+fmt.Sprint(o.Nodes), o.Nodes, marks), &flow); err != nil {
		return nil, fmt.Errorf("load bench: create flow: %w", err)
	}
	c.take()

	store, err := models.Open(ctx, "sqlite:"+filepath.Join(dataDir, "baton.db"))
	if err != nil {
		return nil, fmt.Errorf("load bench: open the mirror: %w", err)
	}
	defer func() { _ = store.Close() }()
	tc, err := engine.Dial(ctx, st.TemporalAddr, "default", slog.New(slog.NewTextHandler(io.Discard, nil)), time.Minute)
	if err != nil {
		return nil, fmt.Errorf("load bench: %w", err)
	}
	defer tc.Close()
	obs := reconcile.TemporalObserver{Engine: &engine.Engine{Client: tc, Namespace: "default"}}

	d := &driver{c: c, flowID: flow.ID, marks: marks, nodes: o.Nodes, within: o.Within, progress: o.Progress}
	end := time.Now().Add(o.Duration)
	for i := 0; i == 0 || time.Now().Before(end); i++ {
		lagBefore := scrapeHistogram(st.Base, "baton_mirror_lag_seconds")
		writesBefore := scrapeHistogram(st.Base, "baton_mirror_write_duration_seconds").count
		b, err := d.batch(ctx, o.Runs)
		if err != nil {
			o.Progress("batch %d: %v", i+1, err)
		}
		lost, cerr := check(ctx, store, obs, marks, o.Nodes, b, o.Within)
		if cerr != nil {
			return rep, fmt.Errorf("load bench: check batch %d: %w", i+1, cerr)
		}
		lag := scrapeHistogram(st.Base, "baton_mirror_lag_seconds").minus(lagBefore)
		writes := scrapeHistogram(st.Base, "baton_mirror_write_duration_seconds").count - writesBefore
		if err := countHistory(ctx, tc, b); err != nil {
			return rep, fmt.Errorf("load bench: batch %d: %w", i+1, err)
		}
		sample()
		br := summarize(b, lost, lag)
		if n := float64(len(b.Runs)); n > 0 {
			br.RowsPerRun, br.LogBytesPerRun = float64(b.Rows)/n, float64(b.LogBytes)/n
			br.EventsPerRun, br.WritesPerRun = float64(b.HistoryEvents)/n, writes/n
		}
		memMu.Lock()
		br.RSSAfter = rep.Memory[len(rep.Memory)-1].RSS
		br.HeapLive = rep.Memory[len(rep.Memory)-1].HeapLive
		memMu.Unlock()
		rep.Batches = append(rep.Batches, br)
		o.Progress("batch %d: %d runs in %s, %d lost, %.0f runs/min, %.0f transitions/s, API p99 %s, mirror lag p99 ≤ %gs, rss %d MiB",
			i+1, br.Runs, br.Wall.Round(time.Millisecond), br.Lost, br.RunsPerMin, br.TransitionsPerSec, br.APIP99.Round(time.Millisecond),
			br.MirrorLagP99, br.RSSAfter>>20)
		for _, p := range br.Problems {
			o.Progress("  %s", p)
		}
		if err != nil && lost == 0 {
			return rep, err
		}
	}
	rep.Wall = time.Since(rep.Started)
	return rep, nil
}

func summarize(b *Batch, lost int, lag histogram) BatchReport {
	br := BatchReport{Runs: len(b.Runs), Lost: lost, Wall: b.End.Sub(b.Start),
		Classes: map[string][3]time.Duration{}, Calls: map[string]int{}}
	var all []time.Duration
	for class, ds := range b.Latencies {
		br.Classes[class] = [3]time.Duration{quantile(ds, 0.5), quantile(ds, 0.95), quantile(ds, 0.99)}
		br.Calls[class] = len(ds)
		all = append(all, ds...)
	}
	for _, n := range b.ServerErrors {
		br.ServerErrors += n
	}
	br.APIP99 = quantile(all, 0.99)
	var first, last time.Time
	byMix := map[string][]time.Duration{}
	for _, r := range b.Runs {
		if !r.Finished.IsZero() {
			byMix[r.Mix] = append(byMix[r.Mix], r.Finished.Sub(r.Started))
		}
		br.Refused += r.Refused
		br.Retried += r.Retried
		if first.IsZero() || r.Started.Before(first) {
			first = r.Started
		}
		if r.Finished.After(last) {
			last = r.Finished
		}
		for _, p := range r.Problems {
			if len(br.Problems) < 10 {
				br.Problems = append(br.Problems, fmt.Sprintf("run %s (%s): %s", r.ID, r.Mix, p))
			}
		}
	}
	if span := last.Sub(first); span > 0 {
		br.RunsPerMin = float64(len(b.Runs)) / span.Minutes()
		br.TransitionsPerSec = float64(b.Transitions) / span.Seconds()
	}
	br.MirrorLagP99, br.MirrorLagCount = lag.quantile(0.99), int(lag.count)
	br.ByMix = map[string]mixTimes{}
	for mix, ds := range byMix {
		br.ByMix[mix] = mixTimes{Runs: len(ds), P50: quantile(ds, 0.5), Max: quantile(ds, 1)}
	}
	return br
}

// countHistory adds up the history length of every execution of the
// batch's runs (continue-as-new makes more than one).
func countHistory(ctx context.Context, tc client.Client, b *Batch) error {
	for _, r := range b.Runs {
		if r.ID == "" {
			continue
		}
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowId = %q", workflows.WorkflowID(r.ID))})
		if err != nil {
			return fmt.Errorf("count history of run %s: %w", r.ID, err)
		}
		for _, e := range resp.GetExecutions() {
			b.HistoryEvents += int(e.GetHistoryLength())
		}
	}
	return nil
}

// histogram is a cumulative Prometheus histogram: bucket bound -> count.
type histogram struct {
	count   float64
	buckets map[float64]float64
}

func (h histogram) minus(o histogram) histogram {
	out := histogram{count: h.count - o.count, buckets: map[float64]float64{}}
	for b, n := range h.buckets {
		out.buckets[b] = n - o.buckets[b]
	}
	return out
}

// quantile is the upper bound of the bucket that holds the q-quantile
// (+Inf beyond the last bucket, 0 for an empty histogram).
func (h histogram) quantile(q float64) float64 {
	if h.count == 0 {
		return 0
	}
	bounds := make([]float64, 0, len(h.buckets))
	for b := range h.buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	for _, b := range bounds {
		if h.buckets[b] >= q*h.count {
			return b
		}
	}
	return math.Inf(1)
}

func scrape(base string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var p expfmt.TextParser
	return p.TextToMetricFamilies(resp.Body)
}

func scrapeHistogram(base, name string) histogram {
	h := histogram{buckets: map[float64]float64{}}
	fams, err := scrape(base)
	if err != nil || fams[name] == nil {
		return h
	}
	for _, m := range fams[name].GetMetric() {
		hh := m.GetHistogram()
		h.count += float64(hh.GetSampleCount())
		for _, b := range hh.GetBucket() {
			h.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	return h
}

func scrapeGauge(base, name string) float64 {
	fams, err := scrape(base)
	if err != nil || fams[name] == nil || len(fams[name].GetMetric()) == 0 {
		return 0
	}
	return fams[name].GetMetric()[0].GetGauge().GetValue()
}

// Markdown renders the report as the tables docs/benchmarks.md keeps.
func (r *Report) Markdown(o Options) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d concurrent runs of a %d-node shell flow per batch (60%% plain, 10%% each: retry a failed node, skip a failed node, stop, pause+resume), %d batch(es) in %s.\n\n",
		o.Runs, o.Nodes, len(r.Batches), r.Wall.Round(time.Second))
	b.WriteString("| batch | wall | lost | runs/min | transitions/s | API p99 | 5xx | operations refused / asked again | mirror lag p99 | RSS after | heap in use |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, br := range r.Batches {
		fmt.Fprintf(&b, "| %d | %s | %d / %d | %.0f | %.0f | %s | %d | %d / %d | ≤ %gs (%d transitions) | %d MiB | %d MiB |\n", i+1, br.Wall.Round(100*time.Millisecond),
			br.Lost, br.Runs, br.RunsPerMin, br.TransitionsPerSec, br.APIP99.Round(time.Millisecond), br.ServerErrors, br.Refused, br.Retried,
			br.MirrorLagP99, br.MirrorLagCount, br.RSSAfter>>20, br.HeapLive>>20)
	}
	if len(r.Batches) > 0 {
		last := r.Batches[len(r.Batches)-1]
		b.WriteString("\nAPI latency by call, last batch:\n\n| call | calls | p50 | p95 | p99 |\n|---|---|---|---|---|\n")
		classes := make([]string, 0, len(last.Classes))
		for c := range last.Classes {
			classes = append(classes, c)
		}
		sort.Strings(classes)
		for _, c := range classes {
			q := last.Classes[c]
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", c, last.Calls[c], q[0].Round(time.Millisecond), q[1].Round(time.Millisecond), q[2].Round(time.Millisecond))
		}
	}
	if len(r.Batches) > 0 {
		last := r.Batches[len(r.Batches)-1]
		fmt.Fprintf(&b, "\nFootprint per run, last batch: %.0f mirror rows, %.0f bytes of task logs, %.0f Temporal history events, %.1f mirror writes (transactions).\n",
			last.RowsPerRun, last.LogBytesPerRun, last.EventsPerRun, last.WritesPerRun)
		b.WriteString("\nRun time (start to final status) by mix, last batch:\n\n| mix | runs | p50 | max |\n|---|---|---|---|\n")
		for _, mix := range []string{mixPlain, mixRetry, mixSkip, mixStop, mixPause} {
			if t, ok := last.ByMix[mix]; ok {
				fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", mix, t.Runs, t.P50.Round(100*time.Millisecond), t.Max.Round(100*time.Millisecond))
			}
		}
	}
	if len(r.Memory) > 1 {
		b.WriteString("\nResident memory of `baton dev` (one sample a minute):\n\n| t | RSS | heap in use |\n|---|---|---|\n")
		next := time.Duration(0)
		for _, m := range r.Memory {
			if m.At >= next {
				fmt.Fprintf(&b, "| %s | %d MiB | %d MiB |\n", m.At.Round(time.Second), m.RSS>>20, m.HeapLive>>20)
				next = m.At + time.Minute
			}
		}
	}
	return b.String()
}
