package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/baton-sched/baton/internal/cli/apiclient"
)

func TestExitCodes(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("boom"), ExitError},
		{&APIError{Status: 409, Code: "run_closed"}, ExitRefused},
		{fmt.Errorf("stop run: %w", &APIError{Status: 409, Code: "node_not_eligible"}), ExitRefused},
		{&APIError{Status: 404, Code: "not_found"}, ExitError},
		{&APIError{Status: 400, Code: "bad_request"}, ExitError},
		{usagef("bad"), ExitUsage},
	}
	for _, c := range cases {
		if got := ExitCode(c.err); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestExecuteUsage runs the real command tree: a wrong command line is
// exit 2 without touching the network.
func TestExecuteUsage(t *testing.T) {
	for _, args := range [][]string{
		{"runs", "show"},                    // missing argument
		{"runs", "list", "--no-such-flag"},  // unknown flag
		{"runs", "node", "r", "a", "smash"}, // unknown node operation
		{"nosuch"},                          // unknown command
		{"runs", "list", "-o", "xml"},       // bad output format
		{"flows", "run", "x", "--param", "novalue"},
	} {
		var errOut bytes.Buffer
		root := &cobra.Command{Use: "baton"}
		root.AddCommand(Commands(Options{Getenv: env(map[string]string{envAddr: "127.0.0.1:1"})})...)
		root.SetArgs(args)
		root.SetOut(&bytes.Buffer{})
		root.SetErr(&errOut)
		if code := Execute(t.Context(), root); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, ExitUsage, errOut.String())
		}
		if !strings.HasPrefix(errOut.String(), "baton: ") {
			t.Errorf("%v: error output %q", args, errOut.String())
		}
	}
}

func TestPrintError(t *testing.T) {
	var b bytes.Buffer
	PrintError(&b, apiError(409, []byte(`{"error":{"code":"node_not_eligible","message":"cannot retry b","details":{"offending":[{"id":"b","status":"running"},{"id":"c","status":""}]}}}`)))
	want := "baton: node_not_eligible (HTTP 409): cannot retry b\n  offending: b (running), c\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	PrintError(&b, apiError(400, []byte(`{"error":{"code":"invalid_definition","message":"invalid definition: 2 problems","details":[{"path":"nodes[0].id","message":"is required"},{"path":"name","message":"is required"}]}}`)))
	want = "baton: invalid_definition (HTTP 400): invalid definition: 2 problems\n  nodes[0].id: is required\n  name: is required\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	PrintError(&b, apiError(502, []byte("<html>bad gateway</html>")))
	if b.String() != "baton: http_502 (HTTP 502): <html>bad gateway</html>\n" {
		t.Errorf("non-envelope answer: %q", b.String())
	}
}

func TestPrintRaw(t *testing.T) {
	raw := []byte(`{"id":"r1","nodes":[{"id":"a","status":"success"}]}`)
	var b bytes.Buffer
	if err := printRaw(&b, outYAML, raw); err != nil {
		t.Fatal(err)
	}
	if b.String() != "id: r1\nnodes:\n- id: a\n  status: success\n" {
		t.Errorf("yaml %q", b.String())
	}
	b.Reset()
	if err := printRaw(&b, outJSON, raw); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || !strings.Contains(b.String(), "\n  \"nodes\"") {
		t.Errorf("json %q %v", b.String(), err)
	}
}

func TestTableCells(t *testing.T) {
	var b bytes.Buffer
	tb := newTable(&b, "A", "LONGER")
	tb.row("x\ty", "multi\nline")
	_ = tb.flush()
	if b.String() != "A    LONGER\nx y  multi line\n" {
		t.Errorf("table %q", b.String())
	}
}

func TestFrame(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &runDetail{ID: "r1", Kind: "flow", DefinitionName: "etl", Version: 3, Status: "running", StartedAt: &start,
		Nodes: []nodeView{{ID: "a", Status: "success"}, {ID: "b", Status: "running"}, {ID: "c", Status: "failed"}, {ID: "d", Status: "waiting"}}}
	lines := frame(d, 12*time.Second, 80)
	want := []string{
		"run r1  flow etl v3  RUNNING  12s",
		"[" + strings.Repeat("█", 20) + strings.Repeat("░", 20) + "] 2/4 nodes done",
		"success 1  failed 1  running 1  waiting 1",
		"running (1): b",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("frame\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	for _, l := range frame(d, time.Second, 30) {
		if n := len([]rune(l)); n > 30 {
			t.Errorf("line of %d runes on a 30-column terminal: %q", n, l)
		}
	}
}

func TestRedrawInPlace(t *testing.T) {
	var b bytes.Buffer
	f := &follower{out: &b, tty: true}
	f.redraw([]string{"one", "two", "three"})
	f.redraw([]string{"uno"})
	want := "\x1b[Jone\ntwo\nthree\n" + "\x1b[3F\x1b[Juno\n"
	if b.String() != want {
		t.Errorf("redraw %q, want %q", b.String(), want)
	}
}

func TestPlainChanges(t *testing.T) {
	f := &follower{nodes: map[string]string{}, started: time.Now()}
	d := &runDetail{ID: "r1", Status: "running", Nodes: []nodeView{{ID: "a", Status: "running"}, {ID: "b", Status: "waiting"}}}
	got := strip(f.changes(d))
	if want := "run r1 running|node a running|node b waiting"; got != want {
		t.Errorf("first read %q, want %q", got, want)
	}
	if got := f.changes(d); len(got) != 0 {
		t.Errorf("nothing moved, yet %q", got)
	}
	d.Nodes[0] = nodeView{ID: "a", Status: "failed", Attempts: 2, Message: "exit status 1"}
	if got, want := strip(f.changes(d)), "node a failed (attempt 2): exit status 1"; got != want {
		t.Errorf("change %q, want %q", got, want)
	}
}

// strip drops the elapsed-time prefix of plain lines.
func strip(lines []string) string {
	out := make([]string, len(lines))
	for i, l := range lines {
		_, out[i], _ = strings.Cut(l, " ")
	}
	return strings.Join(out, "|")
}

// TestIdempotencyKeys: one key per invocation on mutating calls, never on
// reads, and a distinct key for a second mutating call.
func TestIdempotencyKeys(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.Header.Get("Idempotency-Key")+" "+r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := &Client{Addr: srv.URL, Token: "tok", IdempotencyKey: "k1"}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
		if _, err := c.call(t.Context(), m, "/x", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"GET  Bearer tok", "POST k1 Bearer tok", "PUT k1.1 Bearer tok"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("headers %q, want %q", got, want)
	}
}

// TestFollowWaitsForReopen: after an operation that reopens a run, the old
// terminal status the mirror still shows does not end the follow.
func TestFollowWaitsForReopen(t *testing.T) {
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &follower{started: time.Now(), stale: &old}
	stale := &runDetail{Status: "failed", FinishedAt: &old}
	if f.finished(stale) {
		t.Error("the pre-operation finish ended the follow")
	}
	later := old.Add(time.Minute)
	if !f.finished(&runDetail{Status: "success", FinishedAt: &later}) {
		t.Error("a new finish did not end the follow")
	}
	f = &follower{started: time.Now().Add(-reopenGrace), stale: &old}
	if !f.finished(stale) {
		t.Error("a run that never reopened keeps the follow waiting past the grace")
	}
}

func TestTailable(t *testing.T) {
	inst := func(shard, attempt int, st string) instanceView {
		return instanceView{ShardIndex: shard, Attempt: attempt, Status: apiclient.InstanceStatus(st)}
	}
	cases := []struct {
		name string
		n    nodeView
		want bool
	}{
		{"not dispatched", nodeView{Status: "waiting"}, false},
		{"running", nodeView{Status: "running", Instances: []instanceView{inst(0, 1, "running")}}, true},
		{"finished", nodeView{Status: "failed", Instances: []instanceView{inst(0, 1, "failed")}}, true},
		{"retried, next attempt not there yet", nodeView{Status: "waiting", Instances: []instanceView{inst(0, 1, "failed")}}, false},
		{"retried, next attempt running", nodeView{Status: "running", Instances: []instanceView{inst(0, 1, "failed"), inst(0, 2, "running")}}, true},
		{"one shard of two still running", nodeView{Status: "running", Instances: []instanceView{inst(0, 1, "success"), inst(1, 1, "running")}}, true},
	}
	for _, c := range cases {
		if got := tailable(&c.n); got != c.want {
			t.Errorf("%s: tailable %v, want %v", c.name, got, c.want)
		}
	}
	got := latestInstances(&nodeView{Instances: []instanceView{inst(1, 1, "x"), inst(0, 2, "y"), inst(0, 1, "z")}})
	if len(got) != 2 || got[0].Attempt != 2 || got[1].ShardIndex != 1 {
		t.Errorf("latest instances %+v", got)
	}
}
