package itest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"

	"github.com/baton-sched/baton/internal/metrics"
	"github.com/baton-sched/baton/models"
)

// sseEvent is one Server-Sent Event as a client sees it.
type sseEvent struct {
	id, name string
	data     struct {
		ID       uint64 `json:"id"`
		RunID    string `json:"run_id"`
		Entity   string `json:"entity"`
		EntityID string `json:"entity_id"`
		From     string `json:"from"`
		To       string `json:"to"`
		Status   string `json:"status"` // of "end"
	}
}

// sseStream is an open event stream; events arrive on C, which is closed
// when the server ends the stream (or the test cancels it).
type sseStream struct {
	C      chan sseEvent
	cancel context.CancelFunc
	header http.Header
}

func openEvents(t *testing.T, url string, hdr map[string]string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // closed on the error path and by the reader goroutine
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET %s: %d %s %s", url, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{C: make(chan sseEvent, 1024), cancel: cancel, header: resp.Header}
	go func() {
		defer close(s.C)
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		var data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					if err := json.Unmarshal([]byte(data), &ev.data); err != nil {
						t.Errorf("event %q: bad data %q: %v", ev.name, data, err)
					}
					s.C <- ev
				}
				ev, data = sseEvent{}, ""
			case strings.HasPrefix(line, ":"): // comment (heartbeat)
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data += strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the next event or fails after within.
func (s *sseStream) next(t *testing.T, within time.Duration) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-s.C:
		return ev, ok
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
		return sseEvent{}, false
	}
}

// scrape reads the stack's /metrics as sample values by series
// ("name{k=v,...}", labels sorted as the exposition writes them).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := name + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key+"count"] = float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

// sumPrefix adds up every series whose key starts with prefix.
func sumPrefix(m map[string]float64, prefix string) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// TestLiveEventsAndMetrics runs a flow while watching its event stream:
// node and instance transitions arrive live; the stream is cut mid-run
// and resumed with Last-Event-ID, and the two halves together are exactly
// the run's transition log (no duplicate, no gap); the stream ends with the
// run. The runs stream sees the run appear and finish, and /metrics moved
// for every series the run touches.
func TestLiveEventsAndMetrics(t *testing.T) {
	forEachDB(t, func(t *testing.T, dsn string) {
		m, err := metrics.New()
		if err != nil {
			t.Fatal(err)
		}
		s := newStackOpts(t, dsn, stackOptions{Metrics: m})
		e := newCtlEnv(t, s)
		base := s.api.URL
		before := scrape(t, base+"/metrics")

		runs := openEvents(t, base+"/api/v1/runs/events", nil)
		defer runs.cancel()
		id := e.start([]map[string]any{
			ctlNodeSpec("a", "echo a", ""),
			ctlNodeSpec("b", awaitRelease, ""),
			ctlNodeSpec("c", "echo c", ""),
		}, ctlEdges("a>b", "b>c"), nil)

		// First connection: everything so far, then live, until b runs.
		first := openEvents(t, base+"/api/v1/runs/"+id+"/events", nil)
		var got []sseEvent
		paused := false
		for {
			ev, ok := first.next(t, 60*time.Second)
			if !ok {
				t.Fatalf("stream closed early after %d events", len(got))
			}
			got = append(got, ev)
			if ev.data.Entity == "instance" && ev.data.To == "running" && strings.Contains(ev.data.EntityID, ".b.") && !paused {
				// A control operation while b runs: pause and resume.
				e.op("/api/v1/runs/"+id+"/pause", nil)
				e.op("/api/v1/runs/"+id+"/resume", nil)
				paused = true
			}
			if paused && ev.data.Entity == "run" && ev.data.From == "paused" && ev.data.To == "running" {
				break
			}
		}
		first.cancel()
		lastID := got[len(got)-1].id
		if !hasEvent(got, "node", "a", "success") || !hasEvent(got, "node", "b", "dispatched") {
			t.Fatalf("first connection lacks a's success or b's dispatch: %s", describe(got))
		}

		// While nobody listens, b and c finish.
		if err := os.WriteFile(filepath.Join(e.dir, "release"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		final := waitRun(t, base, id, 60*time.Second)
		if final.Status != "success" {
			t.Fatalf("run ended %s", final.Status)
		}

		// Second connection resumes after the last event seen and ends.
		second := openEvents(t, base+"/api/v1/runs/"+id+"/events", map[string]string{"Last-Event-ID": lastID})
		var rest []sseEvent
		var end *sseEvent
		for end == nil {
			ev, ok := second.next(t, 30*time.Second)
			if !ok {
				t.Fatalf("stream closed without an end event after %s", describe(rest))
			}
			if ev.name == "end" {
				end = &ev
				break
			}
			rest = append(rest, ev)
		}
		if end.data.Status != "success" || end.id != "" {
			t.Fatalf("end event %+v", *end)
		}
		if _, open := second.next(t, 10*time.Second); open {
			t.Fatal("stream stayed open after its end event")
		}
		if !hasEvent(rest, "node", "c", "success") || !hasEvent(rest, "run", id, "success") {
			t.Fatalf("resumed stream lacks c's or the run's success: %s", describe(rest))
		}

		// Together: exactly the log, in order.
		log, err := s.store.TransitionsAfter(context.Background(), models.TransitionFilter{RunID: id}, 0, 1<<62, 10000)
		if err != nil {
			t.Fatal(err)
		}
		all := append(append([]sseEvent{}, got...), rest...)
		if len(all) != len(log) {
			t.Fatalf("streams sent %d events, the log has %d:\n%s", len(all), len(log), describe(all))
		}
		for i, ev := range all {
			if ev.id != strconv.FormatUint(log[i].ID, 10) || ev.data.ID != log[i].ID || ev.name != log[i].Entity ||
				ev.data.To != log[i].ToStatus {
				t.Fatalf("event %d is %s %s, the log has %d %s %s", i, ev.id, ev.name, log[i].ID, log[i].Entity, log[i].ToStatus)
			}
		}

		// Resuming after the end is an immediate end.
		again := openEvents(t, base+"/api/v1/runs/"+id+"/events?after="+all[len(all)-1].id, nil)
		if ev, ok := again.next(t, 10*time.Second); !ok || ev.name != "end" {
			t.Fatalf("resume after the end: %+v %v", ev, ok)
		}
		again.cancel()

		// The runs stream saw the run start and succeed.
		var runEvents []sseEvent
		for !hasEvent(runEvents, "run", id, "success") {
			ev, ok := runs.next(t, 30*time.Second)
			if !ok {
				t.Fatal("runs stream closed")
			}
			if ev.data.RunID == id {
				runEvents = append(runEvents, ev)
			}
		}
		if runEvents[0].data.From != "" || runEvents[0].data.To != "running" {
			t.Fatalf("runs stream: first event of the run %+v", runEvents[0].data)
		}

		// A backfill of two dates of a one-node flow.
		var f struct{ ID string }
		if code := call(t, base, "POST", "/api/v1/flows", map[string]any{"name": "bf-metrics",
			"nodes": []map[string]any{ctlNodeSpec("x", "true", "")}}, &f); code != 201 {
			t.Fatalf("create flow: %d", code)
		}
		var bf struct{ ID, Status string }
		if code := call(t, base, "POST", "/api/v1/backfills", map[string]any{"kind": "flow", "definition_id": f.ID,
			"from": "2026-01-01", "to": "2026-01-02", "parallel": 2}, &bf); code != 201 && code != 200 {
			t.Fatalf("create backfill: %d", code)
		}
		for deadline := time.Now().Add(60 * time.Second); bf.Status != "success"; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("backfill still %s", bf.Status)
			}
			call(t, base, "GET", "/api/v1/backfills/"+bf.ID, nil, &bf)
		}

		// A schedule fire: a task on a two-second cron, disabled after it ran.
		var task struct{ ID string }
		if code := call(t, base, "POST", "/api/v1/tasks", map[string]any{"name": "cron-metrics", "kind": "noop",
			"trigger": map[string]any{"type": "cron", "cron": "*/2 * * * * ?", "overlap": "allow_all"}}, &task); code != 201 {
			t.Fatalf("create task: %d", code)
		}
		fired := waitRunCount(t, s, "task", task.ID, 1, 30*time.Second)
		waitRun(t, base, fired[0].ID, 30*time.Second)
		if code := call(t, base, "POST", "/api/v1/tasks/"+task.ID+"/disable", nil, nil); code != 200 {
			t.Fatalf("disable task: %d", code)
		}

		after := scrape(t, base+"/metrics")
		moved := func(key string, by float64) {
			t.Helper()
			if d := after[key] - before[key]; d < by {
				t.Errorf("%s moved by %v, want at least %v (before %v, after %v)", key, d, by, before[key], after[key])
			}
		}
		moved("baton_runs_started_total{kind=flow,trigger=manual}", 1)
		moved("baton_runs_finished_total{kind=flow,status=success,trigger=manual}", 1)
		moved("baton_runs_finished_total{kind=flow,status=success,trigger=backfill}", 2)
		moved("baton_instance_duration_seconds{group=default,status=success,task_kind=shell}count", 5)
		moved("baton_control_operations_total{operation=pause,result=applied}", 1)
		moved("baton_control_operations_total{operation=resume,result=applied}", 1)
		moved("baton_control_operation_duration_seconds{operation=pause}count", 1)
		moved("baton_mirror_batch_rows{}count", 5)
		moved("baton_mirror_write_duration_seconds{}count", 5)
		moved("baton_mirror_lag_seconds{}count", float64(len(log)))
		moved("baton_http_request_duration_seconds{method=GET,route=/api/v1/runs/:id,status=200}count", 1)
		moved("baton_http_request_duration_seconds{method=POST,route=/api/v1/flows/:id/runs,status=201}count", 1)
		moved("baton_backfill_dates_total{outcome=done}", 2)
		moved("baton_schedule_fires_total{result=started}", 1)
		moved("baton_runs_started_total{kind=task,trigger=cron}", 1)
		for k := range after {
			if strings.Contains(k, "/api/v1/runs/"+id) {
				t.Errorf("series %s is labelled with a raw path", k)
			}
		}
		// The Temporal SDK's own series are on the same registry.
		if d := sumPrefix(after, "temporal_request_total") - sumPrefix(before, "temporal_request_total"); d < 1 {
			t.Errorf("temporal_request_total moved by %v", d)
		}
		if sumPrefix(after, "temporal_workflow_task_execution_latency_seconds") == 0 {
			t.Errorf("no temporal_workflow_task_execution_latency_seconds series")
		}
	})
}

func hasEvent(evs []sseEvent, entity, id, to string) bool {
	for _, ev := range evs {
		if ev.data.Entity == entity && ev.data.EntityID == id && ev.data.To == to {
			return true
		}
	}
	return false
}

func describe(evs []sseEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "%s %s %s %s→%s\n", ev.id, ev.name, ev.data.EntityID, ev.data.From, ev.data.To)
	}
	return b.String()
}
