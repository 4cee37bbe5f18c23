package cli

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestReadEvents(t *testing.T) {
	in := ": keepalive\n\nid: 7\nevent: node\ndata: {\"to\":\"running\"}\n\n" +
		"id:8\nevent:run\ndata: {}\n\n" + "event: end\ndata: {\"status\":\"success\"}\n\n" + "id: 9\ndata: x\n"
	var got []string
	if err := readEvents(strings.NewReader(in), func(e sseEvent) { got = append(got, e.ID+"/"+e.Name) }); err != nil {
		t.Fatal(err)
	}
	// The last event has no blank line after it: cut off, not delivered.
	if want := "7/node 8/run /end"; strings.Join(got, " ") != want {
		t.Fatalf("events %q, want %q", strings.Join(got, " "), want)
	}
}

// The follower reads the detail once per burst of events, and when the
// stream drops it connects again with Last-Event-ID, so nothing between is
// lost; it ends when the detail is terminal.
func TestFollowResumesTheEventStream(t *testing.T) {
	var (
		mu       sync.Mutex
		reads    int
		resumes  []string
		detail   = `{"id":"r1","kind":"flow","definition_id":"f","status":"running","nodes":[{"id":"a","status":"running"}]}`
		finished = make(chan struct{})
	)
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/runs/r1", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		reads++
		fmt.Fprint(w, detail)
	})
	mux.HandleFunc("/api/v1/runs/r1/events", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "accept", http.StatusNotAcceptable)
			return
		}
		mu.Lock()
		resumes = append(resumes, r.Header.Get("Last-Event-ID"))
		n := len(resumes)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1: // two events, then the connection drops
			fmt.Fprint(w, "id: 1\nevent: node\ndata: {}\n\nid: 2\nevent: node\ndata: {}\n\n")
		default: // the run ends
			mu.Lock()
			detail = strings.ReplaceAll(detail, "running", "success")
			mu.Unlock()
			fmt.Fprint(w, "id: 3\nevent: run\ndata: {}\n\nevent: end\ndata: {}\n\n")
			w.(http.Flusher).Flush()
			<-finished
		}
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	defer close(finished)
	var out bytes.Buffer
	f := &follower{c: &Client{Addr: ts.URL}, out: &out, interval: 20 * time.Millisecond, nodes: map[string]string{}}
	d, _, err := f.follow(t.Context(), "r1")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if d.Status != "success" || len(resumes) != 2 || resumes[0] != "" || resumes[1] != "2" {
		t.Fatalf("status %s, stream connections with Last-Event-ID %q", d.Status, resumes)
	}
	// The first read, one per burst (each connection's events): not one per
	// event, and none on a timer.
	if reads < 2 || reads > 3 {
		t.Fatalf("%d reads of the detail", reads)
	}
	for _, want := range []string{"run r1 running", "node a running", "run r1 success", "node a success", "run r1 success in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
