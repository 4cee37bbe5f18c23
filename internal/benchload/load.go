package benchload

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// The mix of a batch: what is done to a run and the status it must end in.
// special is the node the operations aim at (layer 2, so it has upstream
// and downstream nodes).
const (
	mixPlain = "plain" // nothing: success
	mixRetry = "retry" // special fails once; retried from the node menu: success
	mixSkip  = "skip"  // special always fails; skipped: success
	mixStop  = "stop"  // special sleeps; the run is stopped: stopped
	mixPause = "pause" // paused just after start, resumed: success

	special = "n08"
)

// mixFor spreads the operations over a batch: 60% plain, 10% each other.
func mixFor(i int) string {
	switch i % 10 {
	case 1:
		return mixRetry
	case 3:
		return mixSkip
	case 5:
		return mixStop
	case 7:
		return mixPause
	default:
		return mixPlain
	}
}

// script runs in every node: it appends one line per execution to
// marks/<run>.<node> (the executions the checker counts), then does what
// the run's mode asks of the special node.
const script = `m="$BATON_PARAM_MARKS/$BATON_RUN_ID.$BATON_NODE_ID"
echo "$BATON_ATTEMPT" >> "$m"
[ "$BATON_NODE_ID" = "` + special + `" ] || exit 0
case "$BATON_PARAM_MODE" in
retry) if [ -e "$m.failed" ]; then exit 0; fi; touch "$m.failed"; echo "failing once on purpose" >&2; exit 1 ;;
skip) echo "failing for good on purpose" >&2; exit 1 ;;
stop) exec sleep 300 ;;
esac`

// Flow is the load's flow: nodes shell nodes in layers of 5, each node
// depending on every node of the layer above.
func Flow(name string, nodes int, marks string) dag.Flow {
	f := dag.Flow{Name: name, Params: map[string]string{"marks": marks, "mode": mixPlain}}
	const width = 5
	for i := range nodes {
		id := fmt.Sprintf("n%02d", i+1)
		f.Nodes = append(f.Nodes, dag.Node{ID: id, Type: dag.NodeTask,
			Task: &dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: script}}})
		if layer := i / width; layer > 0 {
			for j := (layer - 1) * width; j < layer*width; j++ {
				f.Edges = append(f.Edges, dag.Edge{From: fmt.Sprintf("n%02d", j+1), To: id})
			}
		}
	}
	return f
}

// LoadRun is one run of a batch and what became of it.
type LoadRun struct {
	ID       string
	Mix      string
	Want     status.Run
	Got      string
	Started  time.Time
	Finished time.Time
	// Refused counts 409 answers to its operations (e.g. a pause that came
	// after the run had finished); they are allowed, not losses.
	Refused int
	// Retried counts operations asked again after a 502 or 504.
	Retried  int
	Problems []string
}

// Batch is one round of concurrent runs.
type Batch struct {
	Runs          []*LoadRun
	Start, End    time.Time
	Transitions   int
	Rows          int   // mirror rows of the batch's runs: run, nodes, instances, transitions
	LogBytes      int64 // task log bytes the instances wrote
	HistoryEvents int   // Temporal history events of the batch's runs (every execution)
	Latencies     map[string][]time.Duration
	ServerErrors  map[string]int
	ConsoleErrors int
}

// driver runs batches against one stack.
type driver struct {
	c        *apiClient
	flowID   string
	marks    string
	nodes    int
	within   time.Duration
	progress func(format string, args ...any)
}

type runList struct {
	Items []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"items"`
	NextCursor string `json:"next_cursor"`
}

type runDetail struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Nodes  []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"nodes"`
}

// batch starts n runs at once (at most 20 starts in flight), applies each
// run's operations, and waits until every run has reached its final status.
func (d *driver) batch(ctx context.Context, n int) (*Batch, error) {
	b := &Batch{Start: time.Now()}
	ctx, cancel := context.WithTimeout(ctx, d.within)
	defer cancel()

	// The console's load while the batch runs: a list, stats and a run
	// detail five times a second, as a few operators with the console open.
	stopConsole := make(chan struct{})
	var consoleWG sync.WaitGroup
	consoleWG.Add(1)
	go func() {
		defer consoleWG.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stopConsole:
				return
			case <-t.C:
			}
			var err error
			switch i % 3 {
			case 0:
				_, err = d.c.do(ctx, "console: runs list", http.MethodGet, "/api/v1/runs?limit=50", nil, nil)
			case 1:
				_, err = d.c.do(ctx, "console: runs stats", http.MethodGet, "/api/v1/runs/stats", nil, nil)
			default:
				if len(b.Runs) > 0 {
					_, err = d.c.do(ctx, "console: run detail", http.MethodGet, "/api/v1/runs/"+b.Runs[i%len(b.Runs)].ID, nil, nil)
				}
			}
			if err != nil && ctx.Err() == nil {
				b.ConsoleErrors++
			}
		}
	}()

	b.Runs = make([]*LoadRun, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 20)
	errs := make(chan error, n)
	for i := range n {
		r := &LoadRun{Mix: mixFor(i), Want: status.RunSuccess}
		if r.Mix == mixStop {
			r.Want = status.RunStopped
		}
		b.Runs[i] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			var out runDetail
			r.Started = time.Now()
			_, err := d.c.do(ctx, "start run", http.MethodPost, "/api/v1/flows/"+d.flowID+"/runs",
				map[string]any{"params": map[string]string{"mode": r.Mix}}, &out)
			<-sem
			if err != nil {
				errs <- err
				return
			}
			r.ID = out.ID
			if err := d.operate(ctx, r); err != nil {
				errs <- fmt.Errorf("run %s (%s): %w", r.ID, r.Mix, err)
			}
		}()
	}
	wg.Wait()
	close(stopConsole)
	consoleWG.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	b.End = time.Now()
	b.Latencies, b.ServerErrors = d.c.take()
	return b, errors.Join(all...)
}

// operate applies the run's operations and waits for its final status.
func (d *driver) operate(ctx context.Context, r *LoadRun) error {
	// A 502 or 504 leaves the operation's outcome open: ask again under
	// the same Idempotency-Key, as the CLI and the console do, so it is
	// applied once whatever happened to the first answer.
	op := func(path string) error {
		key := uuid.NewString()
		var err error
		for range 5 {
			var code int
			code, err = d.c.doKey(ctx, "control", http.MethodPost, "/api/v1/runs/"+r.ID+path, key,
				map[string]string{"reason": "load bench"}, nil)
			switch code {
			case http.StatusConflict:
				r.Refused++
				return nil
			case http.StatusBadGateway, http.StatusGatewayTimeout:
				r.Retried++
				if err := sleep(ctx, time.Second); err != nil {
					return err
				}
				continue
			}
			return err
		}
		return err
	}
	switch r.Mix {
	case mixPause:
		if err := op("/pause"); err != nil {
			return err
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
		if err := op("/resume"); err != nil {
			return err
		}
	case mixRetry, mixSkip:
		if _, err := d.waitRun(ctx, r, func(v runDetail) bool { return v.Status == string(status.RunFailed) }); err != nil {
			return err
		}
		verb := "/retry"
		if r.Mix == mixSkip {
			verb = "/skip"
		}
		if err := op("/nodes/" + special + verb); err != nil {
			return err
		}
	case mixStop:
		if _, err := d.waitRun(ctx, r, func(v runDetail) bool {
			for _, n := range v.Nodes {
				if n.ID == special && n.Status == string(status.NodeRunning) {
					return true
				}
			}
			return false
		}); err != nil {
			return err
		}
		if err := op("/stop"); err != nil {
			return err
		}
	}
	v, err := d.waitRun(ctx, r, func(v runDetail) bool {
		// A retried or skipped run still reads failed until the mirror
		// has the operation's effect.
		s := status.Run(v.Status)
		return s.Terminal() && (s != status.RunFailed || (r.Mix != mixRetry && r.Mix != mixSkip))
	})
	if err != nil {
		return err
	}
	r.Got, r.Finished = v.Status, time.Now()
	return nil
}

// waitRun polls the run's detail once a second until done holds.
func (d *driver) waitRun(ctx context.Context, r *LoadRun, done func(runDetail) bool) (runDetail, error) {
	for {
		var v runDetail
		if _, err := d.c.do(ctx, "run detail", http.MethodGet, "/api/v1/runs/"+r.ID, nil, &v); err != nil && ctx.Err() != nil {
			return v, fmt.Errorf("wait for run: %w (last status %q)", ctx.Err(), v.Status)
		} else if err == nil && done(v) {
			return v, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return v, fmt.Errorf("wait for run: %w", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// executions counts the lines marks/<run>.<node> holds: how often the
// node's script ran.
func executions(marks, runID, node string) (int, error) {
	b, err := os.ReadFile(filepath.Join(marks, runID+"."+node))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("count executions: %w", err)
	}
	return strings.Count(string(b), "\n"), nil
}
