package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/engine"
	"github.com/baton-sched/baton/internal/status"
	"github.com/baton-sched/baton/models"
)

// TargetControlAnswerP95 is issue 12's target: p95 from a control POST
// to its answer.
const TargetControlAnswerP95 = 100 * time.Millisecond

// ControlOps is how many control operations the control shape measures.
const ControlOps = 200

// effectPoll is how often the control shape reads the mirror for an
// operation's effect while its POST is in flight: the resolution of the
// POST→effect figure.
const effectPoll = 2 * time.Millisecond

// ControlOptions configures the control latency shape: pause and resume,
// alternating, of one run through the real HTTP API (api.New over the
// bench's mirror and engine), as the console sends them.
type ControlOptions struct {
	Client client.Client
	Store  *models.Store
	Ops    int // operations measured (ControlOps if 0), after a warm-up pair
	// Progress receives a line every 50 operations.
	Progress io.Writer
}

// ControlResult is what the control shape measured.
type ControlResult struct {
	Ops int
	// Answer is POST→answer of each operation; Effect is POST→the run's
	// status in the mirror showing the operation's effect (read every
	// effectPoll while the POST is in flight, then once more).
	Answer, Effect []time.Duration
	// AfterAnswer counts operations whose effect a mirror read made
	// right after the answer did not show (read-your-writes broken).
	AfterAnswer int
}

// RunControl starts a run whose one node sleeps for an hour on the shell
// worker, then pauses and resumes it o.Ops times through the API, timing
// each operation; the run is stopped at the end.
func RunControl(ctx context.Context, o ControlOptions) (*ControlResult, error) {
	if o.Ops <= 0 {
		o.Ops = ControlOps
	}
	token, err := benchToken(ctx, o.Store)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(api.New(api.Options{Store: o.Store,
		Engine: &engine.Engine{Client: o.Client, Namespace: "default"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	c := &apiCaller{base: srv.URL + "/api/v1", token: token}

	flow := dag.Flow{Name: "bench-control-" + token[len(token)-8:], Nodes: []dag.Node{{ID: "hold", Type: dag.NodeTask,
		Task: &dag.Task{Kind: dag.KindSleep, Sleep: &dag.SleepSpec{Duration: "1h"}, Group: ShellGroup}}}}
	var def struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/flows", flow, &def); err != nil {
		return nil, fmt.Errorf("control shape: create flow: %w", err)
	}
	var run struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, http.MethodPost, "/flows/"+def.ID+"/runs", map[string]any{}, &run); err != nil {
		return nil, fmt.Errorf("control shape: start run: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = c.do(sctx, http.MethodPost, "/runs/"+run.ID+"/stop", map[string]any{}, nil)
	}()
	if _, err := waitMirror(ctx, o.Store, run.ID, "hold", time.Minute); err != nil {
		return nil, fmt.Errorf("control shape: run %s never ran its node: %w", run.ID, err)
	}

	res := &ControlResult{Ops: o.Ops}
	for i := -2; i < o.Ops; i++ { // two warm-up operations, not counted
		op, want := status.OpPause, status.RunPaused
		if (i+2)%2 == 1 {
			op, want = status.OpResume, status.RunRunning
		}
		answer, effect, after, err := timeOp(ctx, c, o.Store, run.ID, op, want)
		if err != nil {
			return res, fmt.Errorf("control shape: operation %d (%s): %w", i+1, op, err)
		}
		if i < 0 {
			continue
		}
		res.Answer, res.Effect = append(res.Answer, answer), append(res.Effect, effect)
		if after {
			res.AfterAnswer++
		}
		if o.Progress != nil && (i+1)%50 == 0 {
			fmt.Fprintf(o.Progress, "control: %d/%d operations, last answer %s\n", i+1, o.Ops, answer.Round(time.Millisecond))
		}
	}
	return res, nil
}

// timeOp POSTs op and reads the mirror for the run becoming want while the
// POST is in flight. after says a read right after the answer did not show
// the effect yet.
func timeOp(ctx context.Context, c *apiCaller, store *models.Store, runID string, op status.Op, want status.Run) (answer, effect time.Duration, after bool, err error) {
	start := time.Now()
	seen := make(chan time.Duration, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			if r, err := store.GetRun(wctx, runID); err == nil && r.Status == string(want) {
				seen <- time.Since(start)
				return
			}
			select {
			case <-wctx.Done():
				return
			case <-time.After(effectPoll):
			}
		}
	}()
	if err := c.do(ctx, http.MethodPost, "/runs/"+runID+"/"+string(op), map[string]any{}, nil); err != nil {
		return 0, 0, false, err
	}
	answer = time.Since(start)
	// The watcher's reads lag by up to effectPoll and a read's own time,
	// so whether the effect was there by the answer is one read made now.
	r, err := store.GetRun(ctx, runID)
	if err != nil {
		return answer, 0, false, fmt.Errorf("read run %s after the answer: %w", runID, err)
	}
	after = r.Status != string(want)
	select {
	case effect = <-seen:
		return answer, effect, after, nil
	case <-time.After(10 * time.Second):
		return answer, 0, true, fmt.Errorf("run %s not %s in the mirror 10 s after the answer", runID, want)
	}
}

// waitMirror waits until node runs in the mirror.
func waitMirror(ctx context.Context, store *models.Store, runID, node string, within time.Duration) (*models.NodeRun, error) {
	end := time.Now().Add(within)
	for time.Now().Before(end) {
		nodes, err := store.ListNodeRuns(ctx, runID)
		if err == nil {
			for i := range nodes {
				if nodes[i].NodeID == node && nodes[i].Status == string(status.NodeRunning) {
					return &nodes[i], nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil, errors.New("not running within " + within.String())
}

// benchToken makes an admin token for the bench's API.
func benchToken(ctx context.Context, store *models.Store) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("control shape: token: %w", err)
	}
	token := "bt_bench_" + hex.EncodeToString(b)
	if _, err := store.EnsureToken(ctx, "bench", "admin", token); err != nil {
		return "", fmt.Errorf("control shape: token: %w", err)
	}
	return token, nil
}

// apiCaller sends the control shape's requests.
type apiCaller struct {
	base, token string
}

func (c *apiCaller) do(ctx context.Context, method, path string, body, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(got)))
	}
	if out != nil {
		if err := json.Unmarshal(got, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// ControlTable is the control shape's figures as a Markdown table.
func ControlTable(r *ControlResult) string {
	if r == nil || len(r.Answer) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Control latency: %d operations (pause and resume of one run, alternating, through the HTTP API), "+
		"mirror read every %s for the effect.\n\n", len(r.Answer), effectPoll)
	b.WriteString("| from the POST to | p50 ms | p95 ms | max ms | target |\n|---|---:|---:|---:|---|\n")
	verdict := "met"
	if Percentile(r.Answer, 0.95) >= TargetControlAnswerP95 {
		verdict = "missed"
	}
	fmt.Fprintf(&b, "| its answer | %s | %s | %s | p95 < %s: %s |\n", ms(Percentile(r.Answer, 0.5)), ms(Percentile(r.Answer, 0.95)),
		ms(Percentile(r.Answer, 1)), TargetControlAnswerP95, verdict)
	fmt.Fprintf(&b, "| the effect in the mirror | %s | %s | %s | in the mirror by the answer: %d of %d |\n",
		ms(Percentile(r.Effect, 0.5)), ms(Percentile(r.Effect, 0.95)), ms(Percentile(r.Effect, 1)),
		len(r.Effect)-r.AfterAnswer, len(r.Effect))
	return b.String()
}
