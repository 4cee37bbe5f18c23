package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"time"
)

// sseEvent is one Server-Sent Event of a run's stream.
type sseEvent struct {
	ID, Name string
}

// readEvents reads Server-Sent Events from r until it ends, handing each
// complete one to got. Only the id and the event name matter to a
// follower: the data is the transition, which the run detail read after
// it shows with everything else.
func readEvents(r io.Reader, got func(sseEvent)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.Name != "" || ev.ID != "" {
				if ev.Name == "" {
					ev.Name = "message"
				}
				got(ev)
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"): // a comment: the keepalive
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Name = value
			}
		}
	}
	return sc.Err()
}

// watchRun follows GET /runs/{id}/events and sends one signal per event
// on changed, until ctx ends. The stream ends when the run reaches a final
// status; watchRun then connects again after wait, resuming with
// Last-Event-ID, since the follower may know the run is reopening (a retry
// whose mirror still shows the old final status) and the same goes for a
// dropped connection. maxPollErrors connections failing in a row end it
// with the last error.
func (f *follower) watchRun(ctx context.Context, runID string, changed chan<- sseEvent) error {
	last := ""
	failures := 0
	for {
		hdr := http.Header{}
		if last != "" {
			hdr.Set("Last-Event-ID", last)
		}
		resp, err := f.c.streamAs(ctx, "/api/v1/runs/"+runID+"/events", nil, "text/event-stream", hdr)
		if err == nil {
			failures = 0
			err = readEvents(resp.Body, func(ev sseEvent) {
				if ev.ID != "" {
					last = ev.ID
				}
				select {
				case changed <- ev:
				case <-ctx.Done():
				}
			})
			_ = resp.Body.Close()
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !transient(err):
			return err
		case err != nil:
			if failures++; failures >= maxPollErrors {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.interval):
		}
	}
}
