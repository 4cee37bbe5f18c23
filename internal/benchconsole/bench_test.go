package benchconsole

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/baton-sched/baton/models"
)

// A small data set through the same generator and driver: every console
// query answers, over the data it should.
func TestSmallDataSet(t *testing.T) {
	ctx := context.Background()
	st, err := models.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	spec := YearSpec()
	spec.Runs, spec.HugeNodes, spec.Batch = 3000, 300, 250
	if err := Generate(ctx, st, spec, nil); err != nil {
		t.Fatal(err)
	}
	c, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c["runs"] != 3001 || c["flows"] != int64(spec.Flows+1) || c["instances"] < 3000*8 || c["node_runs"] < 3000*8 {
		t.Fatalf("counts %v", c)
	}
	stats, err := st.RunStats(ctx, models.RunFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if stats["success"] < 2500 || stats["failed"] == 0 || stats["running"] == 0 {
		t.Fatalf("status mix %v", stats)
	}
	srv, err := Serve(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cursor, err := srv.Cursor(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	qs := Queries(spec, cursor)
	hist, err := srv.HistoryPath(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range qs {
		if qs[i].Path == "" {
			qs[i].Path = hist
		}
		if qs[i].Name == "runs list, definition + bizdate range" {
			var p page
			if _, err := srv.Get(ctx, qs[i].Path, &p); err != nil || len(p.Items) == 0 || p.Items[0].DefinitionID != FlowID(3) {
				t.Fatalf("%s: %+v %v", qs[i].Path, p, err)
			}
		}
	}
	var topo struct {
		Nodes []struct{ ID, Status string }
		Edges [][3]string
	}
	if _, err := srv.Get(ctx, "/api/v1/runs/"+HugeRunID+"?view=topology", &topo); err != nil || len(topo.Nodes) != 300 || len(topo.Edges) < 300 {
		t.Fatalf("huge run topology: %d nodes, %d edges, %v", len(topo.Nodes), len(topo.Edges), err)
	}
	var h struct {
		Items []struct {
			DurationMS *int64 `json:"duration_ms"`
		}
	}
	if _, err := srv.Get(ctx, hist, &h); err != nil || len(h.Items) != 30 || h.Items[0].DurationMS == nil {
		t.Fatalf("history %s: %+v %v", hist, h, err)
	}
	rs, err := srv.Drive(ctx, qs, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if len(r.Samples) != 2 || r.Bytes == 0 || r.P50 <= 0 {
			t.Fatalf("%s: %+v", r.Name, r)
		}
	}
	if Table(rs) == "" {
		t.Fatal("empty table")
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	if Percentile(ds, 50) != 5 || Percentile(ds, 95) != 10 || Percentile(ds, 90) != 9 || Percentile(nil, 50) != 0 {
		t.Fatal(Percentile(ds, 50), Percentile(ds, 95), Percentile(ds, 90))
	}
}
