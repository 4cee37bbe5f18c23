package metrics

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
)

const namespace = "baton"

// Buckets in seconds. Task instances run from milliseconds (noop) to hours
// (ETL); API calls and mirror writes are expected in milliseconds.
var (
	instanceBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400}
	fastBuckets     = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	lagBuckets      = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
	rowBuckets      = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}
)

// Metrics is one process's registry and Baton's series on it.
type Metrics struct {
	reg      *prometheus.Registry
	temporal client.MetricsHandler

	runsStarted     *prometheus.CounterVec
	runsFinished    *prometheus.CounterVec
	instanceSeconds *prometheus.HistogramVec
	controlOps      *prometheus.CounterVec
	controlSeconds  *prometheus.HistogramVec
	mirrorRows      prometheus.Histogram
	mirrorSeconds   prometheus.Histogram
	mirrorLag       prometheus.Histogram
	httpSeconds     *prometheus.HistogramVec
	scheduleFires   *prometheus.CounterVec
	backfillDates   *prometheus.CounterVec
	reconcilePasses prometheus.Counter
	reconcileRuns   *prometheus.CounterVec
	reconcileLast   prometheus.Gauge
}

// New builds a registry with the Go runtime and process collectors, Baton's
// series, and a Temporal SDK metrics handler that records onto it.
func New() (*Metrics, error) {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	f := func(c prometheus.Collector) {
		reg.MustRegister(c)
	}
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.runsStarted = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "runs_started_total",
		Help: "Runs that started executing (their first status in the mirror), by kind and trigger."}, []string{"kind", "trigger"})
	m.runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "runs_finished_total",
		Help: "Runs reaching a final status, by kind, trigger and status; a run retried after failing counts again when it ends again."},
		[]string{"kind", "trigger", "status"})
	m.instanceSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "instance_duration_seconds",
		Help: "Wall time of task instances on this worker, by group, task kind and final status.", Buckets: instanceBuckets},
		[]string{"group", "task_kind", "status"})
	m.controlOps = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "control_operations_total",
		Help: "Control operations sent to runs, by operation and result (applied, refused, closed, unconfirmed, error)."},
		[]string{"operation", "result"})
	m.controlSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "control_operation_duration_seconds",
		Help: "Time from sending a control operation to its answer, by operation.", Buckets: fastBuckets}, []string{"operation"})
	m.mirrorRows = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "mirror_batch_rows",
		Help: "Rows (run, nodes, instances, transitions) in one mirror write of a workflow task.", Buckets: rowBuckets})
	m.mirrorSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "mirror_write_duration_seconds",
		Help: "Time one mirror batch takes to write (one transaction).", Buckets: fastBuckets})
	m.mirrorLag = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Name: "mirror_lag_seconds",
		Help: "From a transition in the workflow to its row committed in the mirror, per transition.", Buckets: lagBuckets})
	m.httpSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "http_request_duration_seconds",
		Help: "API request latency by method, route pattern and status; event streams count when they end.", Buckets: fastBuckets},
		[]string{"method", "route", "status"})
	m.scheduleFires = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "schedule_fires_total",
		Help: "Schedule fires (cron, fixed rate), by result: started, duplicate (already started) or skipped (not a Quartz fire time)."},
		[]string{"result"})
	m.backfillDates = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "backfill_dates_total",
		Help: "Backfill dates whose run ended, by outcome (done or failed)."}, []string{"outcome"})
	m.reconcilePasses = prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "reconcile_passes_total",
		Help: "Passes of the mirror reconciler (each compares a bounded batch of runs with Temporal)."})
	m.reconcileRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "reconcile_runs_total",
		Help: "Runs the mirror reconciler looked at, by result: checked (every run compared), and of those repaired " +
			"(a write was needed), marked_failed (its workflow never started), behind (the workflow wrote after answering) " +
			"and error (it could not be observed or written; also a failed listing)."}, []string{"result"})
	m.reconcileLast = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "reconcile_last_pass_seconds",
		Help: "How long the mirror reconciler's latest pass took."})
	for _, r := range reconcileResults {
		m.reconcileRuns.WithLabelValues(r) // every result present from the start, zeros included
	}
	for _, c := range []prometheus.Collector{m.runsStarted, m.runsFinished, m.instanceSeconds, m.controlOps, m.controlSeconds,
		m.mirrorRows, m.mirrorSeconds, m.mirrorLag, m.httpSeconds, m.scheduleFires, m.backfillDates,
		m.reconcilePasses, m.reconcileRuns, m.reconcileLast} {
		f(c)
	}

	// The SDK reports through OpenTelemetry instruments; the OTel
	// Prometheus exporter reads them at scrape time from the same registry.
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: temporal exporter: %w", err)
	}
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m.temporal = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{
		Meter:                provider.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		// The SDK's default is to panic; a metric must never take a worker down.
		OnError: func(error) {},
	})
	return m, nil
}

// Registry is the registry every series is on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// TemporalHandler is the Temporal client's metrics handler; nil (the SDK's
// no-op) on a nil Metrics.
func (m *Metrics) TemporalHandler() client.MetricsHandler {
	if m == nil {
		return nil
	}
	return m.temporal
}

// RunStarted counts a run's first status.
func (m *Metrics) RunStarted(kind, trigger string) {
	if m != nil {
		m.runsStarted.WithLabelValues(kind, trigger).Inc()
	}
}

// RunFinished counts a run reaching a final status.
func (m *Metrics) RunFinished(kind, trigger, status string) {
	if m != nil {
		m.runsFinished.WithLabelValues(kind, trigger, status).Inc()
	}
}

// InstanceDone observes a finished task instance.
func (m *Metrics) InstanceDone(group, taskKind, status string, d time.Duration) {
	if m != nil {
		m.instanceSeconds.WithLabelValues(group, taskKind, status).Observe(d.Seconds())
	}
}

// Control counts a control operation and observes how long it took.
func (m *Metrics) Control(op, result string, d time.Duration) {
	if m != nil {
		m.controlOps.WithLabelValues(op, result).Inc()
		m.controlSeconds.WithLabelValues(op).Observe(d.Seconds())
	}
}

// MirrorWrite observes one committed mirror batch: its rows, how long it
// took, and for each transition the time since the workflow made it.
func (m *Metrics) MirrorWrite(rows int, d time.Duration, lags []time.Duration) {
	if m == nil {
		return
	}
	m.mirrorRows.Observe(float64(rows))
	m.mirrorSeconds.Observe(d.Seconds())
	for _, l := range lags {
		m.mirrorLag.Observe(max(l, 0).Seconds())
	}
}

// ScheduleFire counts one fire of a schedule.
func (m *Metrics) ScheduleFire(result string) {
	if m != nil {
		m.scheduleFires.WithLabelValues(result).Inc()
	}
}

// BackfillDates counts n dates of backfills that ended with outcome.
func (m *Metrics) BackfillDates(outcome string, n int) {
	if m != nil && n > 0 {
		m.backfillDates.WithLabelValues(outcome).Add(float64(n))
	}
}

// reconcileResults are the result labels of baton_reconcile_runs_total,
// in ReconcilePass's argument order.
var reconcileResults = []string{"checked", "repaired", "marked_failed", "behind", "error"}

// ReconcilePass records one pass of the mirror reconciler: the runs it
// checked, repaired, marked failed, skipped as behind and could not handle,
// and how long it took.
func (m *Metrics) ReconcilePass(checked, repaired, markedFailed, behind, errors int, took time.Duration) {
	if m == nil {
		return
	}
	m.reconcilePasses.Inc()
	for i, n := range []int{checked, repaired, markedFailed, behind, errors} {
		m.reconcileRuns.WithLabelValues(reconcileResults[i]).Add(float64(n))
	}
	m.reconcileLast.Set(took.Seconds())
}

// GinMiddleware observes every request by its route pattern (Gin's
// FullPath, so /runs/:id is one series, not one per run); requests that
// match no route share the route label "unmatched".
func (m *Metrics) GinMiddleware() gin.HandlerFunc {
	if m == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.httpSeconds.WithLabelValues(c.Request.Method, route, strconv.Itoa(c.Writer.Status())).Observe(time.Since(start).Seconds())
	}
}

// Start answers GET /metrics on addr until ctx ends, for a worker, which
// has no API listener. It returns the address it listens on.
func Start(ctx context.Context, addr string, m *Metrics) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("metrics: listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), nil
}
