package benchconsole

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/google/uuid"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/models"
)

// Spec says what Generate writes.
type Spec struct {
	Runs      int       // runs besides the huge one
	Flows     int       // flow definitions they are spread over
	Days      int       // how far back they go
	HugeNodes int       // nodes of the one huge flow and its run
	End       time.Time // the newest run starts just before End
	Seed      uint64
	Batch     int // runs per ApplyMirrorBatches call
	// Writers is how many batches are written at once (SQLite takes one
	// writer at a time whatever this says).
	Writers int
}

// YearSpec is the benchmark's data set: a year of 100,000 runs over 40
// flows of 8 to 16 nodes (about 1.2 million node and instance rows each),
// plus one 10,000-node run.
func YearSpec() Spec {
	return Spec{Runs: 100_000, Flows: 40, Days: 365, HugeNodes: 10_000,
		End: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Seed: 9, Batch: 400, Writers: 2}
}

// Groups the definitions are spread over.
var Groups = []string{"default", "etl", "finance", "marketing", "risk", "ops"}

// Users start runs by hand; schedules start the rest.
var Users = []string{"alice", "bob", "carol", "dave", "erin"}

// HugeFlowID is the 10,000-node flow; HugeRunID its run.
const (
	HugeFlowID = "bench-huge"
	HugeRunID  = "bench-huge-run"
)

// FlowID names the i-th generated flow.
func FlowID(i int) string { return fmt.Sprintf("bench-flow-%02d", i) }

// flowNodes is how many task nodes flow i has, 8 to 16.
func flowNodes(i int) int { return 8 + (i*5)%9 }

// NodeID names node k of a generated flow.
func NodeID(k int) string { return fmt.Sprintf("n%02d", k) }

// flowSpec is generated flow i: a chain of task nodes where every third
// node also waits for the one two places back, and, in every third flow,
// an and gate before the last node.
func flowSpec(i int) dag.Flow {
	n := flowNodes(i)
	kinds := []string{dag.KindShell, dag.KindShell, dag.KindHTTP, dag.KindNoop}
	f := dag.Flow{Name: FlowID(i), Group: Groups[i%len(Groups)],
		Trigger: &dag.Trigger{Type: dag.TriggerCron, Cron: "0 0 * * * ?", Timezone: "Asia/Shanghai"}}
	for k := range n {
		f.Nodes = append(f.Nodes, dag.Node{ID: NodeID(k), Type: dag.NodeTask, Core: k == n-1, Task: task(kinds[(i+k)%len(kinds)])})
		if k > 0 {
			f.Edges = append(f.Edges, dag.Edge{From: NodeID(k - 1), To: NodeID(k), On: dag.OnSuccess})
		}
		if k >= 2 && k%3 == 2 {
			f.Edges = append(f.Edges, dag.Edge{From: NodeID(k - 2), To: NodeID(k), On: dag.OnSuccess})
		}
	}
	if i%3 == 0 {
		last := NodeID(n - 1)
		f.Nodes = append(f.Nodes, dag.Node{ID: "gate", Type: dag.NodeAnd})
		for k, e := range f.Edges {
			if e.To == last {
				f.Edges[k].To = "gate"
			}
		}
		f.Edges = append(f.Edges, dag.Edge{From: "gate", To: last, On: dag.OnSuccess})
	}
	return f
}

func task(kind string) *dag.Task {
	t := &dag.Task{Kind: kind}
	switch kind {
	case dag.KindShell:
		t.Shell = &dag.ShellSpec{Script: "run-step --date $BATON_BIZDATE"}
	case dag.KindHTTP:
		t.HTTP = &dag.HTTPSpec{Method: "POST", URL: "https://jobs.example/trigger"}
	}
	return t
}

// hugeSpec is the 10,000-node flow: layers of 100 nodes, each node after
// two of the layer before.
func hugeSpec(n int) dag.Flow {
	const width = 100
	f := dag.Flow{Name: HugeFlowID, Group: "etl", Trigger: &dag.Trigger{Type: dag.TriggerManual}}
	id := func(k int) string { return fmt.Sprintf("h%05d", k) }
	for k := range n {
		f.Nodes = append(f.Nodes, dag.Node{ID: id(k), Type: dag.NodeTask, Core: k%997 == 0, Task: task(dag.KindShell)})
		if k >= width {
			layer, j := k/width, k%width
			prev := (layer - 1) * width
			f.Edges = append(f.Edges, dag.Edge{From: id(prev + j), To: id(k), On: dag.OnSuccess})
			if o := prev + (j*7+3)%width; o != prev+j {
				f.Edges = append(f.Edges, dag.Edge{From: id(o), To: id(k), On: dag.OnSuccess})
			}
		}
	}
	return f
}

// saveFlow stores f as a definition through the store, after the same
// validation the API applies.
func saveFlow(ctx context.Context, st *models.Store, id string, f dag.Flow) error {
	if p := dag.ValidateFlow(&f, dag.Options{}); len(p) > 0 {
		return fmt.Errorf("generated flow %s is invalid: %w", id, p)
	}
	spec, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, _, err = st.CreateFlow(ctx, models.DefinitionInput{ID: id, Name: f.Name, Group: f.Group,
		TriggerType: f.Trigger.Type, Spec: string(spec), Actor: "bench", Enabled: true})
	if errors.Is(err, models.ErrConflict) {
		return nil
	}
	return err
}

// Generate writes s's definitions and runs into st. report is told of
// progress every few batches.
func Generate(ctx context.Context, st *models.Store, s Spec, report func(done int)) error {
	flows := make([]dag.Flow, s.Flows)
	for i := range flows {
		flows[i] = flowSpec(i)
		if err := saveFlow(ctx, st, FlowID(i), flows[i]); err != nil {
			return err
		}
	}
	huge := hugeSpec(s.HugeNodes)
	if err := saveFlow(ctx, st, HugeFlowID, huge); err != nil {
		return err
	}
	// Runs are made in one goroutine, so the data repeats with the seed,
	// and written by Writers.
	type job struct {
		runs []models.MirrorBatch
		upTo int
	}
	jobs := make(chan job)
	g, gctx := errgroup.WithContext(ctx)
	var done atomic.Int64
	for range max(s.Writers, 1) {
		g.Go(func() error {
			for j := range jobs {
				if err := st.ApplyMirrorBatches(gctx, j.runs); err != nil {
					return fmt.Errorf("write runs up to %d: %w", j.upTo, err)
				}
				if n := done.Add(int64(len(j.runs))); report != nil {
					report(int(n))
				}
			}
			return nil
		})
	}
	g.Go(func() error {
		defer close(jobs)
		return makeRuns(gctx, s, flows, func(runs []models.MirrorBatch, upTo int) bool {
			select {
			case jobs <- job{runs, upTo}:
				return true
			case <-gctx.Done():
				return false
			}
		})
	})
	if err := g.Wait(); err != nil {
		return err
	}
	// The huge run failed near its end, so nearly every node ran, and it
	// keeps its whole transition log, as the engine writes it.
	hr := genRun(rand.New(rand.NewPCG(s.Seed, 2)), runPlan{id: HugeRunID, defID: HugeFlowID, flow: &huge,
		at: s.End.Add(-3 * time.Hour), out: "failed", trigger: dag.TriggerManual, stopAt: len(huge.Nodes) - 50, fullLog: true})
	return st.ApplyMirrorBatches(ctx, []models.MirrorBatch{hr})
}

// makeRuns generates s's runs in batches of s.Batch and hands each to
// write, stopping when it says no.
func makeRuns(ctx context.Context, s Spec, flows []dag.Flow, write func([]models.MirrorBatch, int) bool) error {
	rng := rand.New(rand.NewPCG(s.Seed, 1))
	start := s.End.Add(-time.Duration(s.Days) * 24 * time.Hour)
	step := s.End.Sub(start) / time.Duration(max(s.Runs, 1))
	var batch []models.MirrorBatch
	for r := range s.Runs {
		at := start.Add(time.Duration(r)*step + time.Duration(rng.Int64N(int64(step))))
		i := flowPick(rng, s.Flows)
		id := uuid.Must(uuid.NewRandomFromReader(rngReader{rng})).String()
		out := outcome(rng, at, s.End)
		stopAt := len(flows[i].Nodes)
		if out != "success" && out != "skipped" {
			stopAt = rng.IntN(stopAt)
		}
		batch = append(batch, genRun(rng, runPlan{id: id, defID: FlowID(i), flow: &flows[i], at: at, out: out,
			trigger: pickTrigger(rng), stopAt: stopAt}))
		if len(batch) == s.Batch || r == s.Runs-1 {
			if !write(batch, r) {
				return ctx.Err()
			}
			batch = nil
		}
	}
	return nil
}

// flowPick skews runs towards the first flows, as a few hourly jobs
// outnumber many daily ones.
func flowPick(rng *rand.Rand, n int) int {
	return min(int(float64(n)*math.Pow(rng.Float64(), 1.6)), n-1)
}

var triggerMix = []struct {
	trigger string
	weight  int
}{{dag.TriggerCron, 80}, {dag.TriggerManual, 6}, {dag.TriggerBackfill, 5}, {dag.TriggerAPI, 4},
	{dag.TriggerRerun, 2}, {dag.TriggerTest, 2}, {dag.TriggerFlow, 1}}

func pickTrigger(rng *rand.Rand) string {
	n := rng.IntN(100)
	for _, t := range triggerMix {
		if n < t.weight {
			return t.trigger
		}
		n -= t.weight
	}
	return dag.TriggerCron
}

func initiator(rng *rand.Rand, trigger string) string {
	switch trigger {
	case dag.TriggerCron, dag.TriggerFlow:
		return "schedule"
	case dag.TriggerAPI:
		return "ci-bot"
	}
	return Users[rng.IntN(len(Users))]
}

// outcome is how a run ends: most succeed, a few fail or are stopped, and
// the last hours' runs are still going.
func outcome(rng *rand.Rand, at, end time.Time) string {
	if end.Sub(at) < 6*time.Hour {
		if rng.IntN(3) > 0 {
			return "running"
		}
	}
	n := rng.IntN(1000)
	switch {
	case n < 900:
		return "success"
	case n < 955:
		return "failed"
	case n < 970:
		return "stopped"
	case n < 980:
		return "timeout"
	case n < 990:
		return "abandoned"
	case n < 995:
		return "rolled_back"
	}
	return "skipped"
}

// runPlan is one run to generate.
type runPlan struct {
	id, defID    string
	flow         *dag.Flow
	at           time.Time
	out, trigger string
	stopAt       int // topological position where an unsuccessful run stopped
	// fullLog keeps node and instance transitions too. Bulk runs log only
	// the run's own: no measured query reads the rest of an old run's log,
	// and writing ~6 million rows would dominate generation.
	fullLog bool
}

// genRun makes one run: its nodes walked in topological order, each task
// node with its instances, as the mirror holds them once the run got as
// far as its outcome says.
func genRun(rng *rand.Rand, p runPlan) models.MirrorBatch {
	id, defID, f, at, out, trigger := p.id, p.defID, p.flow, p.at, p.out, p.trigger
	bizdate := at.Add(8 * time.Hour).Format("2006-01-02") // the Shanghai date
	if trigger == dag.TriggerCron {
		bizdate = at.Add(8*time.Hour - 24*time.Hour).Format("2006-01-02")
	}
	b := models.MirrorBatch{RunID: id, Run: &models.RunUpdate{Kind: "flow", DefinitionID: defID, DefinitionName: f.Name,
		Version: 1, Group: f.Group, Trigger: trigger, Bizdate: bizdate, Params: `{"region":"cn"}`,
		Initiator: initiator(rng, trigger), WorkflowID: "baton-run-" + id, Status: out, Rev: 1, StartedAt: &at}}
	g, _ := dag.NewGraph(f)
	order := g.Order()
	stopAt := p.stopAt
	t := at
	worker := fmt.Sprintf("w-%s-%d", f.Group, rng.IntN(4))
	for k, nid := range order {
		n := g.Node(nid)
		nu := models.NodeUpdate{NodeID: nid, Rev: 1}
		switch {
		case out == "skipped":
			nu.Status = "skipped"
		case k < stopAt:
			nu.Status = "success"
		case k == stopAt:
			nu.Status = map[string]string{"failed": "failed", "timeout": "timeout", "running": "running",
				"stopped": "stopped", "abandoned": "failed", "rolled_back": "rolled_back"}[out]
		default:
			nu.Status = "waiting"
			if out != "running" {
				nu.Status = "skipped"
			}
		}
		if n.IsLogic() || nu.Status == "skipped" || nu.Status == "waiting" {
			if nu.Status == "success" {
				nu.StartedAt, nu.FinishedAt = &t, &t
			}
			b.Nodes = append(b.Nodes, nu)
			continue
		}
		attempts := 1
		if nu.Status == "failed" || rng.IntN(100) < 3 {
			attempts = 2
		}
		started := t
		nu.StartedAt, nu.Attempts = ptr(started), attempts
		base := time.Duration(2+(len(nid)*7+k*13)%120) * time.Second
		for a := 1; a <= attempts; a++ {
			dispatched := t
			t = t.Add(time.Duration(rng.IntN(800)) * time.Millisecond)
			st := t
			t = t.Add(time.Duration(float64(base) * (0.7 + 0.8*rng.Float64())))
			in := models.InstanceUpdate{ID: fmt.Sprintf("%s.%s.0.%d", id, nid, a), NodeID: nid, Attempt: a,
				WorkerID: worker, Host: worker + ".internal", Rev: 1, DispatchedAt: ptr(dispatched), StartedAt: ptr(st)}
			last := a == attempts
			switch {
			case !last || nu.Status == "failed":
				in.Status, in.ExitCode, in.Message = "failed", ptr(1), "exit status 1"
				in.FinishedAt = ptr(t)
			case nu.Status == "running":
				in.Status = "running"
			case nu.Status == "success" || nu.Status == "rolled_back":
				in.Status, in.ExitCode, in.FinishedAt = "success", ptr(0), ptr(t)
			default:
				in.Status, in.FinishedAt = nu.Status, ptr(t)
			}
			b.Instances = append(b.Instances, in)
			if !p.fullLog {
				continue
			}
			b.Transitions = append(b.Transitions, models.Transition{Entity: "instance", EntityID: in.ID, ToStatus: "running", At: st},
				models.Transition{Entity: "instance", EntityID: in.ID, FromStatus: "running", ToStatus: in.Status, At: t})
		}
		if nu.Status != "running" {
			nu.FinishedAt = ptr(t)
		}
		if nu.Status == "failed" {
			nu.Message = "attempt 2 of 2 failed: exit status 1"
		}
		b.Nodes = append(b.Nodes, nu)
		if !p.fullLog {
			continue
		}
		b.Transitions = append(b.Transitions,
			models.Transition{Entity: "node", EntityID: nid, FromStatus: "waiting", ToStatus: "dispatched", At: started},
			models.Transition{Entity: "node", EntityID: nid, FromStatus: "dispatched", ToStatus: "running", At: started})
		if nu.Status != "running" {
			b.Transitions = append(b.Transitions, models.Transition{Entity: "node", EntityID: nid, FromStatus: "running", ToStatus: nu.Status, At: t})
		}
	}
	b.Transitions = append(b.Transitions, models.Transition{Entity: "run", EntityID: id, FromStatus: "waiting", ToStatus: "running", At: at})
	if out != "running" {
		b.Run.FinishedAt = ptr(t)
		b.Transitions = append(b.Transitions, models.Transition{Entity: "run", EntityID: id, FromStatus: "running", ToStatus: out, At: t})
	}
	return b
}

func ptr[T any](v T) *T { return &v }

// rngReader feeds uuid from the seeded generator, so ids repeat with the
// seed.
type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}

// Count reports the mirror's row counts, for the report.
func Count(ctx context.Context, st *models.Store) (string, error) {
	c, err := st.TableCounts(ctx)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d runs, %d node runs, %d instances, %d transitions, %d flows",
		c["runs"], c["node_runs"], c["instances"], c["transitions"], c["flows"]), nil
}
