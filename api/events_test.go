package api

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-sched/baton/models"
)

// readSSE returns the stream's lines (blank lines dropped) on a channel
// closed at the end of the stream.
func readSSE(t *testing.T, e *env, path string, hdr map[string]string) (<-chan string, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", e.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.viewer)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // the reader goroutine below closes it
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		_ = resp.Body.Close()
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := make(chan string, 4096)
	go func() {
		defer close(lines)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
	}()
	return lines, cancel
}

// until reads lines until one has the prefix, returning those read.
func until(t *testing.T, lines <-chan string, prefix string) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %q after %q", prefix, got)
			}
			got = append(got, l)
			if strings.HasPrefix(l, prefix) {
				return got
			}
		case <-timeout:
			t.Fatalf("no %q within 10s after %q", prefix, got)
		}
	}
}

func ids(lines []string) []string {
	var out []string
	for _, l := range lines {
		if id, ok := strings.CutPrefix(l, "id: "); ok {
			out = append(out, id)
		}
	}
	return out
}

func TestRunEventsStreamOverMirrorWrites(t *testing.T) {
	e := startEnv(t, &fakeEngine{}, Options{Now: func() time.Time { return fixedNow }, Heartbeat: 100 * time.Millisecond,
		Feed: models.FeedOptions{Interval: 20 * time.Millisecond, Buffer: 1}})
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)
	ctx := context.Background()
	t0 := time.Now()
	write := func(ts ...models.Transition) {
		t.Helper()
		if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: run.ID, Transitions: ts}); err != nil {
			t.Fatal(err)
		}
	}
	write(models.Transition{Entity: "run", EntityID: run.ID, FromStatus: "", ToStatus: "running", At: t0})

	lines, cancel := readSSE(t, e, "/api/v1/runs/"+run.ID+"/events", nil)
	defer cancel()
	got := until(t, lines, "data: ")
	if strings.Join(got, "\n") != "id: 1\nevent: run\n"+got[2] || !strings.Contains(got[2], `"to":"running"`) {
		t.Fatalf("first event %q", got)
	}
	until(t, lines, ": keepalive")

	// Fifty node transitions in one batch: with a queue of one, the feed
	// drops the stream's subscription and the handler catches up from the
	// log; the client sees each once, in order.
	var batch []models.Transition
	for i := range 50 {
		batch = append(batch, models.Transition{Entity: "node", EntityID: fmt.Sprintf("n%02d", i), ToStatus: "success", At: t0})
	}
	write(batch...)
	// An instance's event names its node, shard and attempt (the node id
	// holds a dot; a reset run's instance has a suffix).
	write(models.Transition{Entity: "instance", EntityID: run.ID + ".a.b.2.3~0f1e2d3c", ToStatus: "running", At: t0})
	write(models.Transition{Entity: "run", EntityID: run.ID, FromStatus: "running", ToStatus: "success", At: t0.Add(time.Second)})
	rest := until(t, lines, "event: end")
	var inst string
	for _, l := range rest {
		if strings.Contains(l, `"entity":"instance"`) {
			inst = l
		}
	}
	if !strings.Contains(inst, `"node":"a.b","shard":2,"attempt":3`) {
		t.Fatalf("instance event %q: want its node, shard and attempt", inst)
	}
	want := []string{}
	for i := 2; i <= 53; i++ {
		want = append(want, fmt.Sprint(i))
	}
	if strings.Join(ids(rest), ",") != strings.Join(want, ",") {
		t.Fatalf("ids %v, want 2..53 once each", ids(rest))
	}
	if l := until(t, lines, "data: "); !strings.Contains(l[0], `"status":"success"`) {
		t.Fatalf("end data %q", l)
	}
	if l, open := <-lines; open {
		t.Fatalf("stream open after end: %q", l)
	}

	// Resuming in the middle sends the rest and ends again.
	lines, cancel2 := readSSE(t, e, "/api/v1/runs/"+run.ID+"/events", map[string]string{"Last-Event-ID": "50"})
	defer cancel2()
	if got := ids(until(t, lines, "event: end")); strings.Join(got, ",") != "51,52,53" {
		t.Fatalf("resumed ids %v", got)
	}
}

func TestRunsEventsStreamsRunTransitionsOnly(t *testing.T) {
	e := startEnv(t, &fakeEngine{}, Options{Now: func() time.Time { return fixedNow },
		Feed: models.FeedOptions{Interval: 20 * time.Millisecond}})
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)
	ctx := context.Background()
	old := models.Transition{Entity: "run", EntityID: run.ID, ToStatus: "running", At: time.Now()}
	if err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: run.ID, Transitions: []models.Transition{old}}); err != nil {
		t.Fatal(err)
	}
	lines, cancel := readSSE(t, e, "/api/v1/runs/events", nil)
	defer cancel()
	time.Sleep(100 * time.Millisecond) // subscribed: what follows is new
	err := e.store.ApplyMirror(ctx, models.MirrorBatch{RunID: run.ID, Transitions: []models.Transition{
		{Entity: "node", EntityID: "extract", ToStatus: "running", At: time.Now()},
		{Entity: "run", EntityID: run.ID, FromStatus: "running", ToStatus: "failed", At: time.Now()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := until(t, lines, "data: ")
	if got[0] != "id: 3" || got[1] != "event: run" || !strings.Contains(got[2], `"to":"failed"`) {
		t.Fatalf("runs stream sent %q: want only the new run transition", got)
	}
	cancel()
	// Resuming from before the first one replays it.
	lines, cancel = readSSE(t, e, "/api/v1/runs/events?after=0", nil)
	defer cancel()
	if got := until(t, lines, "id: 3"); strings.Join(ids(got), ",") != "1,3" {
		t.Fatalf("replayed ids %v", ids(got))
	}
}

func TestEventStreamsRefuseBadInput(t *testing.T) {
	e := newEnv(t)
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)
	path := "/api/v1/runs/" + run.ID + "/events"
	for _, c := range []struct {
		path string
		hdr  map[string]string
		code string
		msg  string
	}{
		{path + "?since=3", nil, CodeBadRequest, "since"},
		{path + "?until=forever", nil, CodeBadRequest, "until must be terminal or closed"},
		{path, map[string]string{"Last-Event-ID": "abc"}, CodeBadRequest, "Last-Event-ID must be an event id"},
		{path + "?after=-1", nil, CodeBadRequest, "after must be an event id"},
		{"/api/v1/runs/events?status=failed", nil, CodeBadRequest, "status"},
	} {
		r := e.send("GET", c.path, e.viewer, nil, c.hdr)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), c.code) || !strings.Contains(string(r.body), c.msg) {
			t.Errorf("GET %s %v: %d %s", c.path, c.hdr, r.status, r.body)
		}
	}
	e.mustFail(http.StatusNotFound, CodeNotFound, "GET", "/api/v1/runs/nope/events", e.viewer, nil)
	if r := e.send("GET", path, "", nil, nil); r.status != http.StatusUnauthorized {
		t.Errorf("no token: %d", r.status)
	}
}

// TestStreamsOutliveWriteTimeout serves the API with HTTPServer's settings
// but a WriteTimeout of 300ms: an event stream keeps going well past it,
// because each write moves the deadline.
func TestStreamsOutliveWriteTimeout(t *testing.T) {
	e := startEnv(t, &fakeEngine{}, Options{Now: func() time.Time { return fixedNow }})
	seedFlow(t, e)
	var run runResp
	e.must(http.StatusCreated, "POST", "/api/v1/flows/settle/runs", e.operator, nil, &run)

	st := e.store
	srv := HTTPServer(New(Options{Store: st, Engine: &fakeEngine{}, Heartbeat: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	srv.WriteTimeout = 300 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	short := &env{t: t, store: st, url: "http://" + ln.Addr().String(), viewer: e.viewer}
	lines, cancel := readSSE(t, short, "/api/v1/runs/"+run.ID+"/events", nil)
	defer cancel()
	start := time.Now()
	for n := 0; time.Since(start) < 1500*time.Millisecond; n++ {
		l, ok := <-lines
		if !ok {
			t.Fatalf("stream cut after %s (%d lines): the WriteTimeout applied", time.Since(start), n)
		}
		if l != ": keepalive" {
			t.Fatalf("unexpected line %q", l)
		}
	}
}

func TestMetricsOpenWithoutToken(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/api/v1/runs", e.viewer, nil)
	e.do("GET", "/api/v1/runs/nope", e.viewer, nil)
	e.do("GET", "/no/such/route", "", nil)
	r := e.do("GET", "/metrics", "", nil)
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s", r.status, r.header.Get("Content-Type"))
	}
	for _, want := range []string{
		`baton_http_request_duration_seconds_count{method="GET",route="/api/v1/runs",status="200"} 1`,
		`baton_http_request_duration_seconds_count{method="GET",route="/api/v1/runs/:id",status="404"} 1`,
		`baton_http_request_duration_seconds_count{method="GET",route="unmatched",status="404"} 1`,
	} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
