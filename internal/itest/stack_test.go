package itest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/api/apitest"
	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/internal/devstack"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/models/modelstest"
)

const testToken = "bt_integration_admin"

// stack is one complete Baton: its own in-memory Temporal, a mirror, a
// worker of group "default" and the API.
type stack struct {
	t      *testing.T
	srv    *devstack.Server
	client client.Client
	store  *models.Store
	api    *httptest.Server
	dsn    string
	// consoleURL is what alert messages link runs to.
	consoleURL string
	// worker is the running worker; workerOpts start another like it.
	worker     *engine.Worker
	workerOpts engine.WorkerOptions
	// base, when set, is the address of an API served by another process
	// (the fault suite's `baton api`); api is nil then.
	base string
}

// url is the address of the stack's API.
func (s *stack) url() string {
	if s.base != "" {
		return s.base
	}
	return s.api.URL
}

// databases lists the mirrors to run against: SQLite always, MariaDB/MySQL
// when BATON_TEST_MYSQL_DSN is set.
func databases(t *testing.T) map[string]string {
	t.Helper()
	dbs := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "mirror.db")}
	if dsn := os.Getenv("BATON_TEST_MYSQL_DSN"); dsn != "" {
		dbs["mysql"] = freshMySQL(t, dsn)
	}
	return dbs
}

// forEachDB runs fn once per mirror database, in a stable order.
func forEachDB(t *testing.T, fn func(t *testing.T, dsn string)) {
	dbs := databases(t)
	for _, name := range []string{"sqlite", "mysql"} {
		dsn, ok := dbs[name]
		t.Run(name, func(t *testing.T) {
			if !ok {
				t.Skip("BATON_TEST_MYSQL_DSN not set")
			}
			if name == "mysql" {
				t.Logf("integration test on MySQL/MariaDB mirror")
			}
			fn(t, dsn)
		})
	}
}

// freshMySQL creates an empty database on the server dsn points at and
// returns a DSN for it.
func freshMySQL(t *testing.T, dsn string) string {
	t.Helper()
	return modelstest.FreshMySQL(t, dsn, "baton_it")
}

func startTemporal(t *testing.T) *devstack.Server {
	t.Helper()
	srv, err := devstack.Start(devstack.Options{
		FrontendAddr:     "127.0.0.1:0",
		Namespace:        "default",
		SearchAttributes: engine.SearchAttributes(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv
}

func newStack(t *testing.T, dsn string) *stack {
	t.Helper()
	return newStackOpts(t, dsn, stackOptions{})
}

// stackOptions vary the stack's worker.
type stackOptions struct {
	HTTPAllow []string
	// OperableWindow keeps the API's runs open that long after they end.
	OperableWindow time.Duration
	// Metrics, when set, records the worker's, engine's and API's series
	// (the API then serves /metrics).
	Metrics *metrics.Metrics
	// FlowActivities registers more activities on the flows worker; the
	// stack's store and client are set by then.
	FlowActivities func(s *stack, r worker.Registry)
	// WorkerDial, when set, gives the worker a client of its own dialled
	// with these options (e.g. a gRPC interceptor injecting faults).
	WorkerDial []engine.DialOption
}

func newStackOpts(t *testing.T, dsn string, o stackOptions) *stack {
	t.Helper()
	ctx := context.Background()
	s := &stack{t: t, dsn: dsn}
	s.srv = startTemporal(t)
	store, err := models.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.EnsureToken(ctx, "admin", "admin", testToken); err != nil {
		t.Fatal(err)
	}
	s.store = store
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := engine.Dial(ctx, s.srv.FrontendAddr(), "default", log, 30*time.Second, engine.WithMetrics(o.Metrics))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.client = c
	wc := c
	if len(o.WorkerDial) > 0 {
		wc, err = engine.Dial(ctx, s.srv.FrontendAddr(), "default", log, 30*time.Second, append(o.WorkerDial, engine.WithMetrics(o.Metrics))...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(wc.Close)
	}
	// One secret key for the API and the worker, as in production, so
	// alert channels saved through the API open on the worker.
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	sealer, err := alert.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	s.consoleURL = "http://console.itest"
	s.workerOpts = engine.WorkerOptions{
		Group: "default", WorkerID: "itest-1", Concurrency: 8, WorkRoot: t.TempDir(), Logger: log,
		HTTPAllow: o.HTTPAllow, Metrics: o.Metrics, Sealer: sealer, ConsoleURL: s.consoleURL,
	}
	if o.FlowActivities != nil {
		s.workerOpts.FlowActivities = func(r worker.Registry) { o.FlowActivities(s, r) }
	}
	w, err := engine.StartWorker(ctx, wc, store, s.workerOpts)
	if err != nil {
		t.Fatal(err)
	}
	s.worker = w
	t.Cleanup(func() { s.worker.Stop() })
	s.api = httptest.NewServer(api.New(api.Options{Store: store, Engine: &engine.Engine{Client: c, Namespace: "default", Metrics: o.Metrics},
		Logger: log, Metrics: o.Metrics, Feed: models.FeedOptions{Interval: 50 * time.Millisecond},
		Sealer: sealer, HTTPAllow: o.HTTPAllow, ConsoleURL: s.consoleURL, OperableWindow: o.OperableWindow}).Handler())
	t.Cleanup(s.api.Close)
	return s
}

// answer is a whole HTTP answer, its body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// request does one authorised API request, body sent as JSON, hdr set last.
// The exchange is validated against the OpenAPI document.
func request(t *testing.T, method, url string, body any, hdr map[string]string) answer {
	t.Helper()
	var (
		rd   io.Reader
		sent []byte
	)
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd, sent = bytes.NewReader(b), b
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	apitest.Exchange(t, openAPIChecker, req, sent, resp, raw)
	return answer{status: resp.StatusCode, header: resp.Header, body: raw}
}

// call does one API request and decodes the JSON answer into out.
func call(t *testing.T, base, method, path string, body any, out any) int {
	t.Helper()
	a := request(t, method, base+path, body, nil)
	if out != nil && len(a.body) > 0 {
		if err := json.Unmarshal(a.body, out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, a.body, err)
		}
	}
	return a.status
}

type runView struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	Trigger    string     `json:"trigger"`
	Bizdate    string     `json:"bizdate"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Nodes      []struct {
		ID        string            `json:"id"`
		Status    string            `json:"status"`
		Outputs   map[string]string `json:"outputs"`
		Instances []struct {
			ID       string `json:"id"`
			Status   string `json:"status"`
			WorkerID string `json:"worker_id"`
			Attempt  int    `json:"attempt"`
		} `json:"instances"`
	} `json:"nodes"`
}

// waitRun polls the run until it reaches a terminal status.
func waitRun(t *testing.T, base, id string, within time.Duration) runView {
	t.Helper()
	deadline := time.Now().Add(within)
	var v runView
	for time.Now().Before(deadline) {
		if code := call(t, base, "GET", "/api/v1/runs/"+id, nil, &v); code != 200 {
			t.Fatalf("GET run: %d", code)
		}
		switch v.Status {
		case "success", "failed", "stopped", "timeout", "rolled_back", "rollback_failed", "abandoned":
			return v
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("run %s still %q after %s", id, v.Status, within)
	return v
}

// restartWorker stops the worker and starts a new one like it: its
// workflows' caches go, and the runs go on by replaying their histories.
func (s *stack) restartWorker() {
	s.t.Helper()
	s.worker.Stop()
	w, err := engine.StartWorker(context.Background(), s.client, s.store, s.workerOpts)
	if err != nil {
		s.t.Fatal(err)
	}
	s.worker = w
}
