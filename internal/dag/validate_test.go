package dag

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// goodFlow is design §8's example flow, made complete (the and node gets
// upstream edges).
func goodFlow() *Flow {
	const body = `{
  "name": "daily-settlement",
  "group": "default",
  "trigger": {"type": "cron", "cron": "0 30 22 * * ?", "timezone": "Asia/Shanghai"},
  "timeout": "2h",
  "params": {"region": "cn"},
  "nodes": [
    {"id": "extract", "type": "task",
     "task": {"kind": "shell", "shell": {"script": "echo $BATON_BIZDATE"}},
     "timeout": "10m", "retry": {"max_attempts": 3, "initial_interval": "1s", "backoff": 2}},
    {"id": "load", "type": "task", "task_id": "existing-task-id", "core": true},
    {"id": "both", "type": "and"},
    {"id": "notify", "type": "task", "task": {"kind": "http", "http": {"method": "POST", "url": "https://hooks.example/x"}}}
  ],
  "edges": [
    {"from": "extract", "to": "load", "on": "success"},
    {"from": "extract", "to": "notify", "on": "failure"},
    {"from": "load", "to": "both"},
    {"from": "notify", "to": "both", "on": "always"}
  ]
}`
	var f Flow
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		panic(err)
	}
	return &f
}

// goodTask is design §8's example task object.
func goodTask() *Task {
	return &Task{
		Name:        "settle",
		Kind:        KindShell,
		Shell:       &ShellSpec{Script: "echo hi"},
		HTTP:        &HTTPSpec{Method: "GET", URL: "https://x", ExpectStatus: []int{200}},
		Sleep:       &SleepSpec{Duration: "5s"},
		Group:       "default",
		Mode:        ModeSharding,
		Shards:      4,
		ShardParams: []string{"a", "b", "c", "d"},
		SuccessRate: 75,
		Timeout:     "10m",
		Grace:       "10s",
		Retry:       &Retry{MaxAttempts: 3, InitialInterval: "1s", Backoff: 2, MaxInterval: "1m"},
		Rollback:    &Task{Kind: KindShell, Shell: &ShellSpec{Script: "echo undo"}},
		Params:      map[string]string{"k": "v"},
		Trigger:     &Trigger{Type: TriggerFixedRate, Interval: "1h", Phase: "5m", CatchupWindow: "1d"},
	}
}

// dropNotify removes the edges that touch node "notify".
func dropNotify(f *Flow) {
	f.Edges = []Edge{f.Edges[0], f.Edges[2]}
}

func paths(p Problems) []string {
	out := []string{}
	for _, q := range p {
		out = append(out, q.Path)
	}
	return out
}

func TestValidateFlowGood(t *testing.T) {
	f := goodFlow()
	called := 0
	p := ValidateFlow(f, Options{TaskExists: func(id string) bool { called++; return id == "existing-task-id" }})
	if len(p) != 0 {
		t.Fatalf("good flow has problems: %v", p)
	}
	if p.Err() != nil {
		t.Fatal("Err of no problems must be nil")
	}
	if called != 1 {
		t.Fatalf("TaskExists called %d times", called)
	}
	if _, err := NewGraph(f); err != nil {
		t.Fatal(err)
	}
	// CJK, other scripts and combining marks are letters of names.
	for _, name := range []string{"每日结算", "日次バッチ-2", "हिन्दी_flow", "Ünïcode.v2", strings.Repeat("名", 64)} {
		f := goodFlow()
		f.Name = name
		f.Nodes[0].Name = name
		if p := ValidateFlow(f, Options{}); len(p) != 0 {
			t.Errorf("name %q: %v", name, p)
		}
	}
}

func TestValidateFlowRules(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *Flow)
		want   []string // paths, in report order
		msg    string   // substring of the first problem's message
	}{
		{"name required", func(f *Flow) { f.Name = "" }, []string{"name"}, "required"},
		{"name with a space", func(f *Flow) { f.Name = "daily settlement" }, []string{"name"}, "letters"},
		{"name too long", func(f *Flow) { f.Name = strings.Repeat("名", 65) }, []string{"name"}, "64"},
		{"name starting with a combining mark", func(f *Flow) { f.Name = "\u0301abc" }, []string{"name"}, ""},
		{"name invalid utf-8", func(f *Flow) { f.Name = "a\xffb" }, []string{"name"}, ""},
		{"group pattern", func(f *Flow) { f.Group = "de fault" }, []string{"group"}, ""},
		{"flow timeout", func(f *Flow) { f.Timeout = "2 hours" }, []string{"timeout"}, "invalid duration"},
		{"negative timeout", func(f *Flow) { f.Timeout = "-1h" }, []string{"timeout"}, "negative"},
		{"overflowing days", func(f *Flow) { f.Timeout = "9999999d" }, []string{"timeout"}, "too long"},
		{"flow param key", func(f *Flow) { f.Params["bad key"] = "x"; f.Params[""] = "y" }, []string{"params", "params"}, `""`},
		{"no nodes", func(f *Flow) { f.Nodes = nil; f.Edges = nil }, []string{"nodes"}, "at least one"},

		{"node id required", func(f *Flow) { f.Nodes[3].ID = ""; dropNotify(f) }, []string{"nodes[3].id"}, "required"},
		{"node id pattern", func(f *Flow) { f.Nodes[3].ID = "no/tify"; dropNotify(f) }, []string{"nodes[3].id"}, ""},
		{"node id too long", func(f *Flow) { f.Nodes[3].ID = strings.Repeat("n", 65); dropNotify(f) }, []string{"nodes[3].id"}, ""},
		{"node id CJK", func(f *Flow) { f.Nodes[3].ID = "通知"; dropNotify(f) }, []string{"nodes[3].id"}, ""},
		{"duplicate node id", func(f *Flow) { f.Nodes[3].ID = "extract"; dropNotify(f) }, []string{"nodes[3].id"}, "nodes[0]"},
		{"node name", func(f *Flow) { f.Nodes[1].Name = "a:b" }, []string{"nodes[1].name"}, ""},
		{"node type", func(f *Flow) { f.Nodes[2].Type = "xor" }, []string{"nodes[2].type"}, `"xor"`},
		{"empty type means task", func(f *Flow) { f.Nodes[1].Type = "" }, nil, ""},
		{"empty type without task", func(f *Flow) { f.Nodes[1].Type = ""; f.Nodes[1].TaskID = ""; f.Nodes[1].Core = false }, []string{"nodes[1]"}, "task_id or task"},
		{"task node without task", func(f *Flow) { f.Nodes[1].TaskID = "" }, []string{"nodes[1]"}, "task_id or task"},
		{"task node with both", func(f *Flow) { f.Nodes[1].Task = &Task{Kind: KindNoop} }, []string{"nodes[1]"}, "not both"},
		{"task_id pattern", func(f *Flow) { f.Nodes[1].TaskID = "a b" }, []string{"nodes[1].task_id"}, ""},
		{"task does not exist", func(f *Flow) { f.Nodes[1].TaskID = "gone" }, []string{"nodes[1].task_id"}, "does not exist"},
		{"inline task checked", func(f *Flow) { f.Nodes[0].Task.Shell.Script = "  " }, []string{"nodes[0].task.shell.script"}, ""},
		{"node timeout", func(f *Flow) { f.Nodes[0].Timeout = "10 min" }, []string{"nodes[0].timeout"}, ""},
		{"node timeout plus task grace", func(f *Flow) { f.Nodes[0].Timeout = "36500d"; f.Nodes[0].Task.Grace = "1m" },
			[]string{"nodes[0].timeout"}, "plus grace 1m"},
		{"flow timeout past the century", func(f *Flow) { f.Timeout = "106000d" }, []string{"timeout"}, "longer"},
		{"node retry", func(f *Flow) { f.Nodes[0].Retry.MaxAttempts = 101 }, []string{"nodes[0].retry.max_attempts"}, ""},
		{"node params", func(f *Flow) { f.Nodes[0].Params = map[string]string{"a=b": ""} }, []string{"nodes[0].params"}, ""},

		{"logic node with task", func(f *Flow) { f.Nodes[2].Task = &Task{Kind: KindNoop}; f.Nodes[2].TaskID = "t" }, []string{"nodes[2].task_id", "nodes[2].task"}, ""},
		{"logic node core", func(f *Flow) { f.Nodes[2].Core = true }, []string{"nodes[2].core"}, "core nodes must be task nodes"},
		{"logic node retry and timeout", func(f *Flow) { f.Nodes[2].Retry = &Retry{}; f.Nodes[2].Timeout = "1m" }, []string{"nodes[2].retry", "nodes[2].timeout"}, ""},
		{"logic node without upstream", func(f *Flow) { f.Edges = f.Edges[:2] }, []string{"nodes[2]"}, "upstream"},
		{"or node without upstream", func(f *Flow) { f.Nodes[2].Type = NodeOr; f.Edges = f.Edges[:2] }, []string{"nodes[2]"}, "upstream"},
		{"logic node whose only upstream is itself", func(f *Flow) { f.Edges = append(f.Edges[:2], Edge{From: "both", To: "both"}) }, []string{"nodes[2]", "edges[2]"}, ""},

		{"edge from unknown", func(f *Flow) { f.Edges[0].From = "nope" }, []string{"edges[0].from"}, `"nope"`},
		{"edge to unknown", func(f *Flow) { f.Edges[1].To = "nope" }, []string{"edges[1].to"}, `"nope"`},
		{"edge ends missing", func(f *Flow) { f.Edges = append(f.Edges, Edge{}) }, []string{"edges[4].from", "edges[4].to"}, "required"},
		{"self edge", func(f *Flow) { f.Edges = append(f.Edges, Edge{From: "load", To: "load"}) }, []string{"edges[4]"}, "itself"},
		{"edge on", func(f *Flow) { f.Edges[0].On = "SUCCESS" }, []string{"edges[0].on"}, `"SUCCESS"`},
		{"duplicate edge", func(f *Flow) { f.Edges = append(f.Edges, f.Edges[1]) }, []string{"edges[4]"}, "duplicate of edges[1]"},
		{"default on duplicates success", func(f *Flow) { f.Edges = append(f.Edges, Edge{From: "extract", To: "load"}) }, []string{"edges[4]"}, "duplicate of edges[0]"},
		{"success and always edges of one pair are fine", func(f *Flow) { f.Edges = append(f.Edges, Edge{From: "extract", To: "load", On: OnAlways}) }, nil, ""},
		{"task node needing success and failure of one upstream", func(f *Flow) { f.Edges = append(f.Edges, Edge{From: "extract", To: "load", On: OnFailure}) }, []string{"edges[4]"}, "never run"},
		{"or node fed success and failure of one upstream", func(f *Flow) {
			f.Nodes[2].Type = NodeOr
			f.Edges = append(f.Edges, Edge{From: "load", To: "both", On: OnFailure})
		}, nil, ""},

		{"two-node cycle", func(f *Flow) { f.Edges = append(f.Edges, Edge{From: "load", To: "extract", On: OnFailure}) }, []string{"edges[4]"}, "cycle: extract -> load -> extract"},
		{"long cycle", func(f *Flow) { f.Edges = append(f.Edges, Edge{From: "both", To: "extract"}) }, []string{"edges[4]"}, "cycle: extract -> load -> both -> extract"},
		{"two independent cycles", func(f *Flow) {
			f.Nodes = append(f.Nodes, Node{ID: "x", TaskID: "t"}, Node{ID: "y", TaskID: "t"})
			f.Edges = append(f.Edges, Edge{From: "y", To: "x"}, Edge{From: "x", To: "y"}, Edge{From: "load", To: "extract"})
		}, []string{"edges[6]", "edges[4]"}, "cycle: extract -> load -> extract"},

		{"trigger type", func(f *Flow) { f.Trigger.Type = "hourly" }, []string{"trigger.type"}, ""},
		{"trigger type required", func(f *Flow) { f.Trigger.Type = ""; f.Trigger.Cron = "" }, []string{"trigger.type"}, ""},
		{"cron required", func(f *Flow) { f.Trigger.Cron = "" }, []string{"trigger.cron"}, "needs"},
		{"cron five fields", func(f *Flow) { f.Trigger.Cron = "30 22 * * *" }, []string{"trigger.cron"}, "not 5"},
		{"cron eight fields", func(f *Flow) { f.Trigger.Cron = "0 30 22 * * ? 2030 x" }, []string{"trigger.cron"}, ""},
		{"cron seven fields ok", func(f *Flow) { f.Trigger.Cron = "0 30 22 ? * MON-FRI 2030" }, nil, ""},
		{"timezone", func(f *Flow) { f.Trigger.Timezone = "Mars/Olympus" }, []string{"trigger.timezone"}, ""},
		{"timezone Local", func(f *Flow) { f.Trigger.Timezone = "Local" }, []string{"trigger.timezone"}, "Local"},
		{"fixed rate needs interval", func(f *Flow) { f.Trigger = &Trigger{Type: TriggerFixedRate} }, []string{"trigger.interval"}, ""},
		{"fixed rate phase below interval", func(f *Flow) { f.Trigger = &Trigger{Type: TriggerFixedRate, Interval: "1h", Phase: "1h"} }, []string{"trigger.phase"}, ""},
		{"trigger durations", func(f *Flow) {
			f.Trigger = &Trigger{Type: TriggerFixedRate, Interval: "x", Phase: "y", CatchupWindow: "z"}
		}, []string{"trigger.interval", "trigger.phase", "trigger.catchup_window"}, ""},
		{"manual trigger", func(f *Flow) { f.Trigger = &Trigger{Type: TriggerManual} }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := goodFlow()
			tt.mutate(f)
			p := ValidateFlow(f, Options{TaskExists: func(id string) bool { return id != "gone" }})
			if got := paths(p); !reflect.DeepEqual(got, append([]string{}, tt.want...)) {
				t.Fatalf("paths = %q, want %q\n%v", got, tt.want, p)
			}
			if tt.msg != "" && !strings.Contains(p[0].Message, tt.msg) {
				t.Fatalf("message %q does not contain %q", p[0].Message, tt.msg)
			}
			if len(p) == 0 {
				if _, err := NewGraph(f); err != nil {
					t.Fatalf("valid flow but NewGraph: %v", err)
				}
			}
		})
	}
}

func TestValidateFlowReportsEverything(t *testing.T) {
	f := goodFlow()
	f.Name = ""
	f.Trigger.Cron = "* *"
	f.Nodes[0].ID = "bad id"
	f.Nodes[0].Task.Kind = "python"
	f.Nodes[1].TaskID = "gone"
	f.Nodes[2].Core = true
	f.Nodes[3].Task.HTTP.URL = "hooks.example/x"
	f.Edges = append(f.Edges, Edge{From: "load", To: "ghost"}, Edge{From: "both", To: "load"})
	p := ValidateFlow(f, Options{TaskExists: func(id string) bool { return id != "gone" }})
	want := []string{
		"name",
		"trigger.cron",
		"nodes[0].id",
		"nodes[0].task.kind",
		"nodes[1].task_id",
		"nodes[2].core",
		"nodes[3].task.http.url",
		"edges[0].from", // "extract" no longer exists
		"edges[1].from",
		"edges[4].to",
		"edges[5]", // load -> both -> load
	}
	if got := paths(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("paths = %q\nwant    %q\n%v", got, want, p)
	}
	if err := p.Err(); err == nil || !strings.HasPrefix(err.Error(), "11 problems: name: is required; trigger.cron: ") {
		t.Fatalf("Error() = %v", err)
	}
	// Same input, same report.
	if again := ValidateFlow(f, Options{TaskExists: func(id string) bool { return id != "gone" }}); !reflect.DeepEqual(again, p) {
		t.Fatal("ValidateFlow is not deterministic")
	}
	if got := ValidateFlow(nil, Options{}); len(got) != 1 {
		t.Fatalf("nil flow: %v", got)
	}
}

func TestValidateTask(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *Task)
		want   []string
		msg    string
	}{
		{"good", func(*Task) {}, nil, ""},
		{"name", func(t *Task) { t.Name = "a b" }, []string{"name"}, ""},
		{"kind required", func(t *Task) { t.Kind = "" }, []string{"kind"}, "required"},
		{"kind unknown", func(t *Task) { t.Kind = "python" }, []string{"kind"}, `"python"`},
		{"noop", func(t *Task) { t.Kind = KindNoop; t.Shell = nil }, nil, ""},
		{"shell spec missing", func(t *Task) { t.Shell = nil }, []string{"shell"}, ""},
		{"shell script empty", func(t *Task) { t.Shell.Script = "\n" }, []string{"shell.script"}, ""},
		{"other kinds' specs are not checked", func(t *Task) { t.HTTP.URL = "nope"; t.Sleep.Duration = "0s" }, nil, ""},
		{"http spec missing", func(t *Task) { t.Kind = KindHTTP; t.HTTP = nil }, []string{"http"}, ""},
		{"http good", func(t *Task) { t.Kind = KindHTTP; t.HTTP.Headers = map[string]string{"X-Trace": "1"} }, nil, ""},
		{"http default method", func(t *Task) { t.Kind = KindHTTP; t.HTTP.Method = "" }, nil, ""},
		{"http method", func(t *Task) { t.Kind = KindHTTP; t.HTTP.Method = "GE T" }, []string{"http.method"}, ""},
		{"http url required", func(t *Task) { t.Kind = KindHTTP; t.HTTP.URL = "" }, []string{"http.url"}, ""},
		{"http url relative", func(t *Task) { t.Kind = KindHTTP; t.HTTP.URL = "/x" }, []string{"http.url"}, "absolute"},
		{"http url scheme", func(t *Task) { t.Kind = KindHTTP; t.HTTP.URL = "ftp://host/x" }, []string{"http.url"}, ""},
		{"http url unparsable", func(t *Task) { t.Kind = KindHTTP; t.HTTP.URL = "http://[::1" }, []string{"http.url"}, ""},
		{"http headers", func(t *Task) {
			t.Kind = KindHTTP
			t.HTTP.Headers = map[string]string{"Bad Name": "x", "X-Ok": "a\r\nInjected: 1"}
		}, []string{"http.headers", "http.headers"}, "Bad Name"},
		{"http expect status", func(t *Task) { t.Kind = KindHTTP; t.HTTP.ExpectStatus = []int{200, 99, 600} }, []string{"http.expect_status[1]", "http.expect_status[2]"}, ""},
		{"http timeout", func(t *Task) { t.Kind = KindHTTP; t.HTTP.Timeout = "soon" }, []string{"http.timeout"}, ""},
		{"sleep", func(t *Task) { t.Kind = KindSleep }, nil, ""},
		{"sleep spec missing", func(t *Task) { t.Kind = KindSleep; t.Sleep = nil }, []string{"sleep"}, ""},
		{"sleep zero", func(t *Task) { t.Kind = KindSleep; t.Sleep.Duration = "" }, []string{"sleep.duration"}, "greater than zero"},
		{"sleep unparsable", func(t *Task) { t.Kind = KindSleep; t.Sleep.Duration = "5 s" }, []string{"sleep.duration"}, ""},
		{"group", func(t *Task) { t.Group = "a/b" }, []string{"group"}, ""},
		{"mode", func(t *Task) { t.Mode = "all" }, []string{"mode"}, ""},
		{"empty mode is single", func(t *Task) { t.Mode = ""; t.Shards = 0; t.ShardParams = nil }, nil, ""},
		{"broadcast with shards", func(t *Task) { t.Mode = ModeBroadcast }, []string{"shards", "shard_params"}, ""},
		{"sharding without shards", func(t *Task) { t.Shards = 0; t.ShardParams = nil }, []string{"shards"}, ""},
		{"too many shards", func(t *Task) { t.Shards = 1001; t.ShardParams = nil }, []string{"shards"}, ""},
		{"shard params count", func(t *Task) { t.ShardParams = t.ShardParams[:3] }, []string{"shard_params"}, "3 entries"},
		{"no shard params", func(t *Task) { t.ShardParams = nil }, nil, ""},
		{"success rate high", func(t *Task) { t.SuccessRate = 101 }, []string{"success_rate"}, ""},
		{"success rate negative", func(t *Task) { t.SuccessRate = -1 }, []string{"success_rate"}, ""},
		{"success rate default", func(t *Task) { t.SuccessRate = 0 }, nil, ""},
		{"timeout and grace", func(t *Task) { t.Timeout = "1y"; t.Grace = "x" }, []string{"timeout", "grace"}, ""},
		{"days", func(t *Task) { t.Timeout = "2d"; t.Grace = "1d" }, nil, ""},
		// time.Duration ends near 106751d: the engine's timeout + grace +
		// margin wrapped negative and wedged the run.
		{"timeout past the century", func(t *Task) { t.Timeout = "106751d"; t.Grace = "1d" }, []string{"timeout"}, "longer than 36500d"},
		{"grace past the century", func(t *Task) { t.Timeout = "1h"; t.Grace = "2562047h" }, []string{"grace"}, "longer than"},
		{"timeout plus grace", func(t *Task) { t.Timeout = "36500d"; t.Grace = "1s" }, []string{"grace"}, "plus grace"},
		{"timeout plus default grace", func(t *Task) { t.Timeout = "36500d" }, []string{"grace"}, "plus grace 10s"},
		{"a century exactly", func(t *Task) { t.Timeout = "36499d"; t.Grace = "1d" }, nil, ""},
		{"retry interval past the century", func(t *Task) { t.Retry.MaxInterval = "36501d" }, []string{"retry.max_interval"}, "longer"},
		{"retry attempts negative", func(t *Task) { t.Retry.MaxAttempts = -1 }, []string{"retry.max_attempts"}, ""},
		{"retry attempts 100", func(t *Task) { t.Retry.MaxAttempts = 100 }, nil, ""},
		{"retry backoff", func(t *Task) { t.Retry.Backoff = 0.5 }, []string{"retry.backoff"}, "0.5"},
		{"retry backoff negative", func(t *Task) { t.Retry.Backoff = -2 }, []string{"retry.backoff"}, ""},
		{"retry backoff one", func(t *Task) { t.Retry.Backoff = 1 }, nil, ""},
		{"retry intervals", func(t *Task) { t.Retry.InitialInterval = "x"; t.Retry.MaxInterval = "y" }, []string{"retry.initial_interval", "retry.max_interval"}, ""},
		{"retry max below initial", func(t *Task) { t.Retry.InitialInterval = "2m" }, []string{"retry.max_interval"}, "less than"},
		{"rollback http", func(t *Task) {
			t.Rollback = &Task{Kind: KindHTTP, HTTP: &HTTPSpec{URL: "http://undo.example"}}
		}, nil, ""},
		{"rollback kind", func(t *Task) { t.Rollback = &Task{Kind: KindNoop} }, []string{"rollback.kind"}, "shell, http"},
		{"rollback spec", func(t *Task) { t.Rollback.Shell = nil }, []string{"rollback.shell"}, ""},
		{"nested rollback", func(t *Task) { t.Rollback.Rollback = &Task{Kind: KindShell, Shell: &ShellSpec{Script: "x"}} }, []string{"rollback.rollback"}, ""},
		{"params", func(t *Task) { t.Params = map[string]string{"z z": "", "ok": "", "": ""} }, []string{"params", "params"}, `""`},
		{"trigger", func(t *Task) { t.Trigger.Interval = "" }, []string{"trigger.interval"}, ""},
		{"flow trigger type", func(t *Task) { t.Trigger = &Trigger{Type: TriggerFlow} }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := goodTask()
			tt.mutate(task)
			p := ValidateTask(task)
			if got := paths(p); !reflect.DeepEqual(got, append([]string{}, tt.want...)) {
				t.Fatalf("paths = %q, want %q\n%v", got, tt.want, p)
			}
			if tt.msg != "" && !strings.Contains(p[0].Message, tt.msg) {
				t.Fatalf("message %q does not contain %q", p[0].Message, tt.msg)
			}
		})
	}
	if p := ValidateTask(nil); len(p) != 1 {
		t.Fatalf("nil task: %v", p)
	}
}

func TestSingleTaskFlow(t *testing.T) {
	task := *goodTask()
	f := SingleTaskFlow("main", task)
	if f.Name != "settle" || f.Group != "default" || f.Timeout != "10m" {
		t.Fatalf("flow header = %q %q %q", f.Name, f.Group, f.Timeout)
	}
	if len(f.Nodes) != 1 || f.Nodes[0].ID != "main" || f.Nodes[0].Type != NodeTask || f.Nodes[0].Task == nil || f.Nodes[0].Task.Shell.Script != "echo hi" {
		t.Fatalf("nodes = %+v", f.Nodes)
	}
	if p := ValidateFlow(&f, Options{}); len(p) != 0 {
		t.Fatalf("single-task flow invalid: %v", p)
	}
	b, _ := json.Marshal(f)
	if !strings.Contains(string(b), `"edges":[]`) {
		t.Fatalf("edges should encode as []: %s", b)
	}
	g := mustGraph(t, &f)
	if g.Decide("main", outcomes(nil)) != Ready {
		t.Fatal("the only node must be ready")
	}

	// A nameless task still yields a valid flow; its errors land under the
	// node's task.
	task = Task{Kind: KindShell}
	f = SingleTaskFlow("main", task)
	if got := paths(ValidateFlow(&f, Options{})); !reflect.DeepEqual(got, []string{"nodes[0].task.shell"}) {
		t.Fatalf("paths = %q", got)
	}
}

func TestValidateLargeFlow(t *testing.T) {
	// 10,000 nodes in a wide, deep lattice with one cycle closing at the
	// end: every problem is still found and reported once.
	f := &Flow{Name: "big"}
	const n = 10000
	for i := 0; i < n; i++ {
		f.Nodes = append(f.Nodes, Node{ID: fmt.Sprintf("n%05d", i), TaskID: "t"})
		if i >= 1 {
			f.Edges = append(f.Edges, Edge{From: fmt.Sprintf("n%05d", i-1), To: fmt.Sprintf("n%05d", i)})
		}
		if i >= 100 {
			f.Edges = append(f.Edges, Edge{From: fmt.Sprintf("n%05d", i-100), To: fmt.Sprintf("n%05d", i), On: OnAlways})
		}
	}
	if p := ValidateFlow(f, Options{}); len(p) != 0 {
		t.Fatalf("lattice invalid: %v", p[:1])
	}
	f.Edges = append(f.Edges, Edge{From: "n09999", To: "n00000"})
	p := ValidateFlow(f, Options{})
	if len(p) != 1 || p[0].Path != fmt.Sprintf("edges[%d]", len(f.Edges)-1) || !strings.HasPrefix(p[0].Message, "cycle: n00000 -> ") {
		t.Fatalf("problems = %.300v", p)
	}
}
