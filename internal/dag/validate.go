package dag

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/baton-sched/baton/internal/quartz"
)

// Problem is one thing wrong with a definition. Path points at the offending
// field in the JSON body ("nodes[3].id", "edges[2]", "trigger.cron") so that
// a console can mark it; an empty Path means the body as a whole.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Problems is every problem found in one definition, in the order of the
// body's fields. The API answers 400 with all of them at once.
type Problems []Problem

func (p Problems) Error() string {
	var b strings.Builder
	if len(p) > 1 {
		fmt.Fprintf(&b, "%d problems: ", len(p))
	}
	for i, q := range p {
		if i > 0 {
			b.WriteString("; ")
		}
		if q.Path != "" {
			b.WriteString(q.Path)
			b.WriteString(": ")
		}
		b.WriteString(q.Message)
	}
	return b.String()
}

// Err returns nil when there is no problem: returning an empty Problems as an
// error would make a non-nil interface holding nothing.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return p
}

func (p *Problems) add(path, format string, args ...any) {
	*p = append(*p, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// Options tunes ValidateFlow.
type Options struct {
	// TaskExists says whether a task_id names a stored task. Nil skips the
	// check, which is what the workflow wants: its snapshot has every task
	// inlined already, and it must not do I/O.
	TaskExists func(id string) bool
}

// Limits. Shards and attempts are capped because each becomes activity
// executions and instance records within one run.
const (
	maxIDLen    = 64
	maxNameLen  = 64
	maxAttempts = 100
	maxShards   = 1000
	minStatus   = 100
	maxStatus   = 599
	idMessage   = "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.', '-'"
)

// MaxDuration bounds every duration of a definition. The workflow adds
// durations (a task's timeout, its grace period and a margin bound how
// long the engine waits for a silent worker), and time.Duration ends at
// about 292 years: a sum past that wraps negative, Temporal refuses the
// command, and the run's workflow task fails for ever. A century is
// longer than any task means to run and keeps every such sum in range.
const MaxDuration = 36500 * 24 * time.Hour

// DefaultGrace is the grace period of a task that gives none: how long a
// stopped or timed-out process group has between SIGTERM and SIGKILL.
const DefaultGrace = 10 * time.Second

const maxDurationText = "36500d (100 years)"

// ValidID reports whether s is a valid node, task or group id.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !idByte(s[i]) {
			return false
		}
	}
	return true
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// ValidName reports whether s is a valid display name: up to 64 characters
// of letters of any script, digits, '-', '_' and '.'. Combining marks are
// allowed after the first character because scripts such as Devanagari or
// Thai cannot spell words without them. Emptiness is the caller's concern.
func ValidName(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNameLen {
		return false
	}
	for i, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_', r == '.':
		case i > 0 && unicode.IsMark(r):
		default:
			return false
		}
	}
	return true
}

const nameMessage = "must be at most 64 characters of letters, digits, '-', '_', '.'"

// ValidateFlow checks a flow definition against every rule of design §4 and
// the task bodies of §8, and reports every problem rather than the first.
// Its cost is linear in nodes and edges (plus sorting map keys), so 10,000
// node flows validate quickly.
//
// Choices the contract leaves open:
//   - An empty node type means task; such a node still needs task or task_id.
//   - Edges with the same from, to and condition are duplicates, "" and
//     "success" being the same condition. The same pair with different
//     conditions is allowed (an or node fed by both the success and the
//     failure edge of one node is how to say "either way"), except that a
//     task or and node that needs one upstream to both succeed and fail can
//     never run, which is reported.
//   - Only one cycle per strongly connected component is reported: breaking
//     it may leave another, but every listed cycle is real.
func ValidateFlow(f *Flow, opts Options) Problems {
	var p Problems
	if f == nil {
		p.add("", "flow is missing")
		return p
	}
	switch {
	case f.Name == "":
		p.add("name", "is required")
	case !ValidName(f.Name):
		p.add("name", nameMessage)
	}
	checkGroup(&p, "group", f.Group)
	if f.Trigger != nil {
		checkTrigger(&p, "trigger", f.Trigger)
	}
	checkDuration(&p, "timeout", f.Timeout)
	checkParams(&p, "params", f.Params)
	checkAlerts(&p, "alerts", f.Alerts)
	if len(f.Nodes) == 0 {
		p.add("nodes", "a flow needs at least one node")
	}

	// First declaration wins: later duplicates are reported and ignored, so
	// edges and cycles are still checked against a well-defined node set.
	index := make(map[string]int, len(f.Nodes))
	for i := range f.Nodes {
		if _, dup := index[f.Nodes[i].ID]; !dup {
			index[f.Nodes[i].ID] = i
		}
	}
	upstream := make([]int, len(f.Nodes))
	for _, e := range f.Edges {
		if to, ok := index[e.To]; ok && e.From != e.To {
			upstream[to]++
		}
	}

	exists := map[string]bool{}
	for i := range f.Nodes {
		checkNode(&p, f, i, index, upstream[i], opts, exists)
	}
	checkEdges(&p, f, index)
	checkCycles(&p, f, index)
	return p
}

func checkNode(p *Problems, f *Flow, i int, index map[string]int, upstream int, opts Options, exists map[string]bool) {
	n := &f.Nodes[i]
	at := fmt.Sprintf("nodes[%d]", i)
	switch {
	case n.ID == "":
		p.add(at+".id", "is required")
	case !ValidID(n.ID):
		p.add(at+".id", idMessage)
	}
	if first := index[n.ID]; first != i {
		p.add(at+".id", "duplicate node id %q (first declared at nodes[%d])", n.ID, first)
	}
	if n.Name != "" && !ValidName(n.Name) {
		p.add(at+".name", nameMessage)
	}
	checkParams(p, at+".params", n.Params)

	switch n.EffectiveType() {
	case NodeTask:
		switch {
		case n.TaskID != "" && n.Task != nil:
			p.add(at, "give either task_id or task, not both")
		case n.TaskID == "" && n.Task == nil:
			p.add(at, "a task node needs task_id or task")
		case n.TaskID != "":
			if !ValidID(n.TaskID) {
				p.add(at+".task_id", idMessage)
			} else if opts.TaskExists != nil {
				ok, seen := exists[n.TaskID]
				if !seen {
					ok = opts.TaskExists(n.TaskID)
					exists[n.TaskID] = ok
				}
				if !ok {
					p.add(at+".task_id", "task %q does not exist", n.TaskID)
				}
			}
		}
		if n.Task != nil {
			checkTask(p, at+".task", n.Task, true)
		}
		if timeout, ok := checkDuration(p, at+".timeout", n.Timeout); ok && n.Task != nil && n.Timeout != "" {
			// The node's timeout replaces its task's; the sum with the
			// task's grace must fit just the same (a bad grace is
			// reported at the task).
			if grace, err := n.Task.Grace.Std(); err == nil && grace <= MaxDuration {
				checkStopWindow(p, at+".timeout", timeout, grace)
			}
		}
		if n.Retry != nil {
			checkRetry(p, at+".retry", n.Retry)
		}
	case NodeAnd, NodeOr:
		if n.TaskID != "" {
			p.add(at+".task_id", "a logic node runs no task")
		}
		if n.Task != nil {
			p.add(at+".task", "a logic node runs no task")
		}
		if n.Core {
			p.add(at+".core", "core nodes must be task nodes")
		}
		if n.Retry != nil {
			p.add(at+".retry", "a logic node finishes instantly and is never retried")
		}
		if n.Timeout != "" {
			p.add(at+".timeout", "a logic node finishes instantly and has no timeout")
		}
		if upstream == 0 {
			p.add(at, "a logic node needs at least one upstream edge")
		}
	default:
		p.add(at+".type", "must be %q, %q or %q, not %q", NodeTask, NodeAnd, NodeOr, n.Type)
	}
}

func checkEdges(p *Problems, f *Flow, index map[string]int) {
	type pair struct{ from, to string }
	type seen struct {
		first [3]int // edges index + 1 per condition: success, failure, always
	}
	pairs := make(map[pair]*seen, len(f.Edges))
	for k, e := range f.Edges {
		at := fmt.Sprintf("edges[%d]", k)
		valid := true
		for _, end := range []struct{ field, id string }{{"from", e.From}, {"to", e.To}} {
			switch _, ok := index[end.id]; {
			case end.id == "":
				p.add(at+"."+end.field, "is required")
				valid = false
			case !ok:
				p.add(at+"."+end.field, "unknown node %q", end.id)
				valid = false
			}
		}
		if valid && e.From == e.To {
			p.add(at, "edge from %q to itself", e.From)
			valid = false
		}
		cond := -1
		switch e.Condition() {
		case OnSuccess:
			cond = 0
		case OnFailure:
			cond = 1
		case OnAlways:
			cond = 2
		default:
			p.add(at+".on", "must be %q, %q or %q, not %q", OnSuccess, OnFailure, OnAlways, e.On)
			valid = false
		}
		if !valid {
			continue
		}
		key := pair{e.From, e.To}
		s := pairs[key]
		if s == nil {
			s = &seen{}
			pairs[key] = s
		}
		if first := s.first[cond]; first != 0 {
			p.add(at, "duplicate of edges[%d]", first-1)
			continue
		}
		s.first[cond] = k + 1
		other := 1 - cond // success <-> failure; always has no opposite
		if cond < 2 && s.first[other] != 0 && f.Nodes[index[e.To]].EffectiveType() != NodeOr {
			p.add(at, "node %q can never run: it needs %q to both succeed and fail (use an or node, or an always edge)", e.To, e.From)
		}
	}
}

// checkCycles reports one cycle per non-trivial strongly connected component
// (Tarjan's algorithm, iterative so that a 10,000-node chain cannot overflow
// the stack). Edges already reported as unknown or self edges are ignored.
func checkCycles(p *Problems, f *Flow, index map[string]int) {
	n := len(f.Nodes)
	down := make([][]int, n)
	up := make([][]int, n)
	edgeAt := map[[2]int]int{} // first edges index of each pair, for the path
	for k, e := range f.Edges {
		from, ok1 := index[e.From]
		to, ok2 := index[e.To]
		if !ok1 || !ok2 || from == to {
			continue
		}
		if _, dup := edgeAt[[2]int{from, to}]; dup {
			continue
		}
		edgeAt[[2]int{from, to}] = k
		down[from] = append(down[from], to)
		up[to] = append(up[to], from)
	}

	const unvisited = -1
	num := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	comp := make([]int, n) // component id, for the cycle walk
	for i := range num {
		num[i] = unvisited
		comp[i] = -1
	}
	var stack []int
	type frame struct{ v, next int }
	var calls []frame
	counter, comps := 0, 0
	var cycles [][]int
	for root := 0; root < n; root++ {
		if num[root] != unvisited {
			continue
		}
		calls = append(calls, frame{v: root})
		num[root], low[root] = counter, counter
		counter++
		stack = append(stack, root)
		onStack[root] = true
		for len(calls) > 0 {
			top := &calls[len(calls)-1]
			v := top.v
			if top.next < len(down[v]) {
				w := down[v][top.next]
				top.next++
				if num[w] == unvisited {
					num[w], low[w] = counter, counter
					counter++
					stack = append(stack, w)
					onStack[w] = true
					calls = append(calls, frame{v: w})
				} else if onStack[w] && num[w] < low[v] {
					low[v] = num[w]
				}
				continue
			}
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				parent := calls[len(calls)-1].v
				if low[v] < low[parent] {
					low[parent] = low[v]
				}
			}
			if low[v] != num[v] {
				continue
			}
			var members []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp[w] = comps
				members = append(members, w)
				if w == v {
					break
				}
			}
			if len(members) > 1 {
				cycles = append(cycles, cycleIn(members, comp, comps, up))
			}
			comps++
		}
	}
	// Report in a stable order: by the earliest-declared node of each cycle.
	sort.Slice(cycles, func(a, b int) bool { return cycles[a][0] < cycles[b][0] })
	for _, c := range cycles {
		ids := make([]string, 0, len(c)+1)
		for _, i := range c {
			ids = append(ids, f.Nodes[i].ID)
		}
		ids = append(ids, f.Nodes[c[0]].ID)
		closing := edgeAt[[2]int{c[len(c)-1], c[0]}]
		p.add(fmt.Sprintf("edges[%d]", closing), "cycle: %s", strings.Join(ids, " -> "))
	}
}

// cycleIn finds one cycle inside a strongly connected component: every
// member has an upstream member, so walking upstream from the earliest
// declared member must come back to a visited node. The result follows edge
// direction and starts at its earliest-declared node.
func cycleIn(members, comp []int, c int, up [][]int) []int {
	start := members[0]
	for _, m := range members {
		if m < start {
			start = m
		}
	}
	seenAt := map[int]int{}
	var walk []int
	for v := start; ; {
		if at, ok := seenAt[v]; ok {
			walk = walk[at:]
			break
		}
		seenAt[v] = len(walk)
		walk = append(walk, v)
		for _, u := range up[v] {
			if comp[u] == c {
				v = u
				break
			}
		}
	}
	for l, r := 0, len(walk)-1; l < r; l, r = l+1, r-1 {
		walk[l], walk[r] = walk[r], walk[l]
	}
	first := 0
	for k := range walk {
		if walk[k] < walk[first] {
			first = k
		}
	}
	return append(walk[first:len(walk):len(walk)], walk[:first]...)
}

// ValidateTask checks a task body: POST /api/v1/tasks, or a node's inline
// task. Paths are relative to the task ("kind", "shell.script").
func ValidateTask(t *Task) Problems {
	var p Problems
	if t == nil {
		p.add("", "task is missing")
		return p
	}
	checkTask(&p, "", t, true)
	return p
}

func join(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + "." + field
}

func checkTask(p *Problems, at string, t *Task, top bool) {
	if t.Name != "" && !ValidName(t.Name) {
		p.add(join(at, "name"), nameMessage)
	}
	kinds := []string{KindShell, KindHTTP, KindNoop, KindSleep}
	if !top {
		kinds = kinds[:2] // a rollback undoes something; noop or sleep cannot
	}
	switch {
	case t.Kind == "":
		p.add(join(at, "kind"), "is required (%s)", strings.Join(kinds, ", "))
	case !contains(kinds, t.Kind):
		p.add(join(at, "kind"), "must be one of %s, not %q", strings.Join(kinds, ", "), t.Kind)
	}
	// Specs of other kinds are ignored, not rejected: a console that switches
	// a task's kind may keep the old spec around.
	switch t.Kind {
	case KindShell:
		switch {
		case t.Shell == nil:
			p.add(join(at, "shell"), "a shell task needs a shell spec")
		case strings.TrimSpace(t.Shell.Script) == "":
			p.add(join(at, "shell.script"), "is required")
		}
	case KindHTTP:
		if t.HTTP == nil {
			p.add(join(at, "http"), "an http task needs an http spec")
		} else {
			checkHTTP(p, join(at, "http"), t.HTTP)
		}
	case KindSleep:
		if t.Sleep == nil {
			p.add(join(at, "sleep"), "a sleep task needs a sleep spec")
		} else if d, ok := checkDuration(p, join(at, "sleep.duration"), t.Sleep.Duration); ok && d <= 0 {
			p.add(join(at, "sleep.duration"), "must be greater than zero")
		}
	}

	checkGroup(p, join(at, "group"), t.Group)
	switch t.Mode {
	case "", ModeSingle, ModeBroadcast:
		if t.Shards != 0 {
			p.add(join(at, "shards"), "only a sharding task has shards")
		}
		if len(t.ShardParams) != 0 {
			p.add(join(at, "shard_params"), "only a sharding task has shard params")
		}
	case ModeSharding:
		if t.Shards < 1 || t.Shards > maxShards {
			p.add(join(at, "shards"), "must be 1 to %d for a sharding task, not %d", maxShards, t.Shards)
		} else if len(t.ShardParams) != 0 && len(t.ShardParams) != t.Shards {
			p.add(join(at, "shard_params"), "has %d entries; give none or one per shard (%d)", len(t.ShardParams), t.Shards)
		}
	default:
		p.add(join(at, "mode"), "must be %s, %s or %s, not %q", ModeSingle, ModeBroadcast, ModeSharding, t.Mode)
	}
	if t.SuccessRate < 0 || t.SuccessRate > 100 {
		p.add(join(at, "success_rate"), "must be 0 to 100 (percent; 0 means 100), not %d", t.SuccessRate)
	}
	timeout, okT := checkDuration(p, join(at, "timeout"), t.Timeout)
	grace, okG := checkDuration(p, join(at, "grace"), t.Grace)
	if okT && okG {
		checkStopWindow(p, join(at, "grace"), timeout, grace)
	}
	if t.Retry != nil {
		checkRetry(p, join(at, "retry"), t.Retry)
	}
	if t.Rollback != nil {
		if top {
			checkTask(p, join(at, "rollback"), t.Rollback, false)
		} else {
			p.add(join(at, "rollback"), "a rollback has no rollback of its own")
		}
	}
	checkParams(p, join(at, "params"), t.Params)
	if t.Trigger != nil {
		checkTrigger(p, join(at, "trigger"), t.Trigger)
	}
	switch {
	case !top && len(t.Alerts) > 0:
		p.add(join(at, "alerts"), "a rollback has no alert rules of its own; the run's rules cover it")
	default:
		checkAlerts(p, join(at, "alerts"), t.Alerts)
	}
}

func checkHTTP(p *Problems, at string, h *HTTPSpec) {
	if h.Method != "" && !validToken(h.Method) {
		p.add(at+".method", "%q is not a valid HTTP method", h.Method)
	}
	if h.URL == "" {
		p.add(at+".url", "is required")
	} else if u, err := url.Parse(h.URL); err != nil {
		p.add(at+".url", "does not parse: %v", err)
	} else if s := strings.ToLower(u.Scheme); (s != "http" && s != "https") || u.Host == "" {
		p.add(at+".url", "must be an absolute http or https URL")
	}
	for _, k := range sortedKeys(h.Headers) {
		if !validToken(k) {
			p.add(at+".headers", "%q is not a valid header name", k)
		} else if strings.ContainsAny(h.Headers[k], "\r\n\x00") {
			p.add(at+".headers", "header %q has a line break or NUL in its value", k)
		}
	}
	for i, s := range h.ExpectStatus {
		if s < minStatus || s > maxStatus {
			p.add(fmt.Sprintf("%s.expect_status[%d]", at, i), "must be %d to %d, not %d", minStatus, maxStatus, s)
		}
	}
	checkDuration(p, at+".timeout", h.Timeout)
}

// validToken is RFC 9110's token, the syntax of methods and header names.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func checkRetry(p *Problems, at string, r *Retry) {
	if r.MaxAttempts < 0 || r.MaxAttempts > maxAttempts {
		p.add(at+".max_attempts", "must be 0 to %d (0 means one attempt), not %d", maxAttempts, r.MaxAttempts)
	}
	if r.Backoff != 0 && !(r.Backoff >= 1) || math.IsInf(r.Backoff, 0) {
		p.add(at+".backoff", "must be 0 (default) or at least 1, not %s", strconv.FormatFloat(r.Backoff, 'g', -1, 64))
	}
	initial, ok1 := checkDuration(p, at+".initial_interval", r.InitialInterval)
	maxInterval, ok2 := checkDuration(p, at+".max_interval", r.MaxInterval)
	// Temporal rejects a maximum below the initial interval at dispatch time;
	// catching it here keeps the error at save time.
	if ok1 && ok2 && maxInterval != 0 && maxInterval < initial {
		p.add(at+".max_interval", "must not be less than initial_interval")
	}
}

func checkTrigger(p *Problems, at string, t *Trigger) {
	types := []string{TriggerCron, TriggerFixedRate, TriggerManual, TriggerAPI, TriggerFlow, TriggerRerun, TriggerBackfill, TriggerTest}
	switch {
	case t.Type == "":
		p.add(at+".type", "is required")
	case !contains(types, t.Type):
		p.add(at+".type", "must be one of %s, not %q", strings.Join(types, ", "), t.Type)
	}
	if t.Type == TriggerCron || t.Cron != "" {
		// Full Quartz parsing lives in internal/quartz; this is the shape
		// check that needs no parser.
		switch n := len(strings.Fields(t.Cron)); {
		case t.Cron == "":
			p.add(at+".cron", "a cron trigger needs a cron expression")
		case n != 6 && n != 7:
			p.add(at+".cron", "a Quartz cron expression has 6 or 7 fields (seconds first), not %d", n)
		}
	}
	interval, okI := checkDuration(p, at+".interval", t.Interval)
	phase, okP := checkDuration(p, at+".phase", t.Phase)
	if t.Type == TriggerFixedRate && okI && interval <= 0 {
		p.add(at+".interval", "a fixed_rate trigger needs an interval greater than zero")
	}
	if okI && okP && interval > 0 && phase >= interval {
		p.add(at+".phase", "must be less than interval")
	}
	checkDuration(p, at+".catchup_window", t.CatchupWindow)
	// "Local" is whatever zone the host runs in, so two workers could fire
	// the same schedule at different instants; quartz.LoadLocation, the one
	// zone loader, refuses it with unknown zones.
	if _, err := quartz.LoadLocation(t.Timezone); err != nil {
		p.add(at+".timezone", "%v", err)
	}
}

func checkGroup(p *Problems, at, g string) {
	if g != "" && !ValidID(g) {
		p.add(at, idMessage)
	}
}

// ValidateParams checks run params the way definitions' params are
// checked, for the params a run once or a rerun gives; at prefixes the
// paths ("params").
func ValidateParams(at string, m map[string]string) Problems {
	var p Problems
	checkParams(&p, at, m)
	return p
}

// checkParams checks keys in sorted order so that problems come out the same
// way on every call. A param reaches a task as an environment variable,
// which cannot hold a NUL.
func checkParams(p *Problems, at string, m map[string]string) {
	for _, k := range sortedKeys(m) {
		switch {
		case !ValidID(k):
			p.add(at, "param name %s %s", quoteName(k), idMessage)
		case strings.IndexByte(m[k], 0) >= 0:
			p.add(at, "param %q has a NUL byte in its value", k)
		}
	}
}

// quoteName quotes a name for a message, shortened when it is long enough
// to drown the message.
func quoteName(s string) string {
	if len(s) > maxIDLen {
		return fmt.Sprintf("%q... (%d bytes)", s[:maxIDLen], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// checkDuration reports a duration that does not parse or exceeds
// MaxDuration; ok is false then.
func checkDuration(p *Problems, at string, d Duration) (time.Duration, bool) {
	v, err := d.Std()
	if err != nil {
		p.add(at, "%v (use Go syntax such as 90s, 10m, 1h30m, or whole days such as 2d)", err)
		return 0, false
	}
	if v > MaxDuration {
		p.add(at, "%q is longer than %s", string(d), maxDurationText)
		return 0, false
	}
	return v, true
}

// checkStopWindow checks that a timed-out task's timeout plus its grace
// period (the default when none is given) stays within MaxDuration: the
// engine waits that long, plus a margin, before it presumes the worker
// dead.
func checkStopWindow(p *Problems, at string, timeout, grace time.Duration) {
	if timeout == 0 {
		return
	}
	if grace == 0 {
		grace = DefaultGrace
	}
	if timeout+grace > MaxDuration {
		p.add(at, "timeout %s plus grace %s is longer than %s", timeout, grace, maxDurationText)
	}
}

func sortedKeys(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// SingleTaskFlow wraps a task in the one-node flow that a task run executes,
// so that tasks and flows share one interpreter. The flow takes the task's
// name (the node id when the task has none, so that the flow stays valid),
// group and timeout. The task is copied shallowly: its specs, retry and
// params are shared with t.
func SingleTaskFlow(nodeID string, t Task) Flow {
	name := t.Name
	if name == "" {
		name = nodeID
	}
	return Flow{
		Name:    name,
		Group:   t.Group,
		Timeout: t.Timeout,
		Nodes:   []Node{{ID: nodeID, Type: NodeTask, Task: &t}},
		Edges:   []Edge{},
	}
}
