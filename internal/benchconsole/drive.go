package benchconsole

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/baton-sched/baton/api"
	"github.com/baton-sched/baton/models"
)

// Query is one console request to time.
type Query struct {
	Name   string
	Path   string        // under the server, query string included
	Target time.Duration // p95 to stay under
	// Uncached sends it to a server without the cache of ended runs'
	// answers: what the first request for an ended run, or every request
	// for an open one, costs.
	Uncached bool
}

// Result is a query's timings.
type Result struct {
	Query
	Samples  []time.Duration
	Bytes    int // size of one answer
	P50, P95 time.Duration
	P99, Max time.Duration
}

// Met says whether the p95 target holds.
func (r Result) Met() bool { return r.P95 < r.Target }

const (
	listTarget   = 50 * time.Millisecond
	detailTarget = 300 * time.Millisecond
)

// Queries are the console's queries over a Generate'd store. cursor50 is
// the cursor of the 50th page of the unfiltered list (Cursor finds it).
func Queries(s Spec, cursor50 string) []Query {
	month := s.End.AddDate(0, -1, 0).Format("2006-01-02")
	to := s.End.Format("2006-01-02")
	return []Query{
		{"runs list, unfiltered", "/api/v1/runs", listTarget, false},
		{"runs list, status=failed", "/api/v1/runs?status=failed", listTarget, false},
		{"runs list, definition + bizdate range", "/api/v1/runs?definition_id=" + FlowID(3) + "&bizdate_from=" + month + "&bizdate_to=" + to, listTarget, false},
		{"runs list, initiator", "/api/v1/runs?initiator=" + Users[1], listTarget, false},
		{"runs list, trigger=manual", "/api/v1/runs?trigger=manual", listTarget, false},
		{"runs list, page 50 via cursor", "/api/v1/runs?cursor=" + url.QueryEscape(cursor50), listTarget, false},
		{"runs stats, unfiltered", "/api/v1/runs/stats", listTarget, false},
		{"runs stats, definition", "/api/v1/runs/stats?definition_id=" + FlowID(3), listTarget, false},
		{"run detail, 10,000 nodes (?view=topology), uncached", "/api/v1/runs/" + HugeRunID + "?view=topology", detailTarget, true},
		{"run detail, 10,000 nodes (?view=topology), ended run cached", "/api/v1/runs/" + HugeRunID + "?view=topology", detailTarget, false},
		{"node duration history (30 runs)", "", listTarget, false}, // path set by Drive: a node of a recent run
		{"locate, 10,000-node run", "/api/v1/runs/" + HugeRunID + "/locate", detailTarget, false},
		{"gantt, 10,000-node run, uncached", "/api/v1/runs/" + HugeRunID + "/gantt", detailTarget, true},
		{"gantt, 10,000-node run, ended run cached", "/api/v1/runs/" + HugeRunID + "/gantt", detailTarget, false},
	}
}

// Server serves st through the real API with a viewer token, twice: with
// the cache of ended runs' answers (URL) and without it (UncachedURL).
type Server struct {
	URL, UncachedURL string
	token            string
	close            func()
}

// Serve starts the API over st on a local port.
func Serve(ctx context.Context, st *models.Store) (*Server, error) {
	token, _, err := st.CreateToken(ctx, fmt.Sprintf("bench-%d", time.Now().UnixNano()), "viewer")
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ts := httptest.NewServer(api.New(api.Options{Store: st, Logger: quiet}).Handler())
	tu := httptest.NewServer(api.New(api.Options{Store: st, Logger: quiet, NoAnswerCache: true}).Handler())
	return &Server{URL: ts.URL, UncachedURL: tu.URL, token: token, close: func() { ts.Close(); tu.Close() }}, nil
}

// Close stops the server.
func (s *Server) Close() { s.close() }

// Get fetches path and decodes the answer into out (nil: discard),
// returning its size; any status but 200 is an error.
func (s *Server) Get(ctx context.Context, path string, out any) (int, error) {
	return s.get(ctx, s.URL, path, out)
}

func (s *Server) get(ctx context.Context, base, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, truncate(body))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return 0, fmt.Errorf("GET %s: %w", path, err)
		}
	}
	return len(body), nil
}

func truncate(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

type page struct {
	Items []struct {
		ID           string `json:"id"`
		DefinitionID string `json:"definition_id"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
	Total      int64   `json:"total"`
}

// Cursor walks the unfiltered list to the n-th page and returns its cursor.
func (s *Server) Cursor(ctx context.Context, n int) (string, error) {
	path := "/api/v1/runs"
	for i := 1; i < n; i++ {
		var p page
		if _, err := s.Get(ctx, path, &p); err != nil {
			return "", err
		}
		if p.NextCursor == nil {
			return "", fmt.Errorf("the list ends at page %d", i)
		}
		path = "/api/v1/runs?cursor=" + url.QueryEscape(*p.NextCursor)
	}
	_, c, _ := strings.Cut(path, "cursor=")
	return url.QueryUnescape(c)
}

// HistoryPath is the duration history route of the last node of the
// newest finished run of flow 0.
func (s *Server) HistoryPath(ctx context.Context) (string, error) {
	var p page
	if _, err := s.Get(ctx, "/api/v1/runs?status=success&definition_id="+FlowID(0)+"&limit=1", &p); err != nil {
		return "", err
	}
	if len(p.Items) == 0 {
		return "", fmt.Errorf("no successful run of %s", FlowID(0))
	}
	return fmt.Sprintf("/api/v1/runs/%s/nodes/%s/history?limit=30", p.Items[0].ID, NodeID(flowNodes(0)-1)), nil
}

// Drive times each query n times, after a few untimed warm-up requests.
func (s *Server) Drive(ctx context.Context, qs []Query, n int) ([]Result, error) {
	out := make([]Result, 0, len(qs))
	for _, q := range qs {
		r := Result{Query: q}
		base := s.URL
		if q.Uncached {
			base = s.UncachedURL
		}
		for i := range 3 {
			size, err := s.get(ctx, base, q.Path, nil)
			if err != nil {
				return nil, err
			}
			if i == 0 {
				r.Bytes = size
			}
		}
		for range n {
			t0 := time.Now()
			if _, err := s.get(ctx, base, q.Path, nil); err != nil {
				return nil, err
			}
			r.Samples = append(r.Samples, time.Since(t0))
		}
		r.P50, r.P95, r.P99 = Percentile(r.Samples, 50), Percentile(r.Samples, 95), Percentile(r.Samples, 99)
		r.Max = slices.Max(r.Samples)
		out = append(out, r)
	}
	return out, nil
}

// Percentile is the nearest-rank p-th percentile of ds (0 when empty).
func Percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

// Table renders results as Markdown.
func Table(rs []Result) string {
	var b strings.Builder
	b.WriteString("| query | p50 ms | p95 ms | p99 ms | max ms | answer bytes | p95 target | met |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		met := "yes"
		if !r.Met() {
			met = "**no**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %d | < %d | %s |\n", r.Name, ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max),
			r.Bytes, r.Target.Milliseconds(), met)
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
