package dag

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// NodeType says what a node is: a task to execute or an instant logic gate.
type NodeType string

// Node types.
const (
	NodeTask NodeType = "task"
	NodeAnd  NodeType = "and"
	NodeOr   NodeType = "or"
)

// EdgeOn is the upstream outcome an edge fires on.
type EdgeOn string

// Edge conditions; an empty On means success.
const (
	OnSuccess EdgeOn = "success"
	OnFailure EdgeOn = "failure"
	OnAlways  EdgeOn = "always"
)

// Task kinds.
const (
	KindShell = "shell"
	KindHTTP  = "http"
	KindNoop  = "noop"
	KindSleep = "sleep"
)

// Execution modes of a task node.
const (
	ModeSingle    = "single"
	ModeBroadcast = "broadcast"
	ModeSharding  = "sharding"
)

// Trigger types.
const (
	TriggerCron      = "cron"
	TriggerFixedRate = "fixed_rate"
	TriggerManual    = "manual"
	TriggerAPI       = "api"
	TriggerFlow      = "flow"
	TriggerRerun     = "rerun"
	TriggerBackfill  = "backfill"
	TriggerTest      = "test"
)

// Duration is a duration as written by users ("10m", "1h30m", "2d").
// It stays a string so that validation can report every bad value at once
// instead of failing JSON decoding on the first.
type Duration string

// Std parses the duration; the empty string is zero. A "d" suffix means days.
func (d Duration) Std() (time.Duration, error) {
	s := strings.TrimSpace(string(d))
	if s == "" {
		return 0, nil
	}
	if strings.HasSuffix(s, "d") {
		var days int
		if _, err := fmt.Sscanf(s, "%dd", &days); err != nil || fmt.Sprintf("%dd", days) != s || days < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		// Beyond ~106,751 days the multiplication below would wrap around.
		if int64(days) > int64(math.MaxInt64/(24*time.Hour)) {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return v, nil
}

// MustStd is Std for values that passed validation.
func (d Duration) MustStd() time.Duration {
	v, err := d.Std()
	if err != nil {
		return 0
	}
	return v
}

// Flow is a flow definition: the body of POST /api/v1/flows and, with every
// task_id resolved into an inline Task, the snapshot a run executes.
type Flow struct {
	Name     string            `json:"name"`
	Group    string            `json:"group,omitempty"`
	Trigger  *Trigger          `json:"trigger,omitempty"`
	Timeout  Duration          `json:"timeout,omitempty"`
	Params   map[string]string `json:"params,omitempty"`
	FailFast bool              `json:"fail_fast,omitempty"`
	Nodes    []Node            `json:"nodes"`
	Edges    []Edge            `json:"edges"`
	Alerts   []AlertRule       `json:"alerts,omitempty"`
}

// Node is one vertex of a flow.
type Node struct {
	ID      string            `json:"id"`
	Name    string            `json:"name,omitempty"`
	Type    NodeType          `json:"type"`
	TaskID  string            `json:"task_id,omitempty"`
	Task    *Task             `json:"task,omitempty"`
	Timeout Duration          `json:"timeout,omitempty"`
	Retry   *Retry            `json:"retry,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	Core    bool              `json:"core,omitempty"`
}

// EffectiveType is the node's type with the default applied: a node without
// a type is a task node (it still needs task or task_id to be valid).
func (n *Node) EffectiveType() NodeType {
	if n.Type == "" {
		return NodeTask
	}
	return n.Type
}

// IsLogic reports whether the node is an and/or gate, which finishes
// instantly and runs nothing.
func (n *Node) IsLogic() bool {
	t := n.EffectiveType()
	return t == NodeAnd || t == NodeOr
}

// Edge connects two nodes; it is satisfied when From finished with a status
// matching On.
type Edge struct {
	From string `json:"from"`
	To   string `json:"to"`
	On   EdgeOn `json:"on,omitempty"`
}

// Condition returns On with the default applied.
func (e Edge) Condition() EdgeOn {
	if e.On == "" {
		return OnSuccess
	}
	return e.On
}

// Task is one unit of work: inline in a node, or the body of POST /api/v1/tasks.
type Task struct {
	Name        string            `json:"name,omitempty"`
	Description string            `json:"description,omitempty"`
	Kind        string            `json:"kind"`
	Shell       *ShellSpec        `json:"shell,omitempty"`
	HTTP        *HTTPSpec         `json:"http,omitempty"`
	Sleep       *SleepSpec        `json:"sleep,omitempty"`
	Group       string            `json:"group,omitempty"`
	Mode        string            `json:"mode,omitempty"`
	Shards      int               `json:"shards,omitempty"`
	ShardParams []string          `json:"shard_params,omitempty"`
	SuccessRate int               `json:"success_rate,omitempty"`
	Timeout     Duration          `json:"timeout,omitempty"`
	Grace       Duration          `json:"grace,omitempty"`
	Retry       *Retry            `json:"retry,omitempty"`
	Rollback    *Task             `json:"rollback,omitempty"`
	Params      map[string]string `json:"params,omitempty"`
	Trigger     *Trigger          `json:"trigger,omitempty"`
	Alerts      []AlertRule       `json:"alerts,omitempty"`
}

// ShellSpec is a shell task's script.
type ShellSpec struct {
	Script string `json:"script"`
	Shell  string `json:"shell,omitempty"` // interpreter, default /bin/sh
}

// HTTPSpec is an http task's request.
type HTTPSpec struct {
	Method       string            `json:"method,omitempty"`
	URL          string            `json:"url"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
	ExpectStatus []int             `json:"expect_status,omitempty"`
	Timeout      Duration          `json:"timeout,omitempty"`
}

// SleepSpec is a sleep task's duration.
type SleepSpec struct {
	Duration Duration `json:"duration"`
}

// Retry is a node's retry policy. MaxAttempts counts the first attempt; the
// default (nil or 0) is one attempt, never Temporal's unlimited default.
type Retry struct {
	MaxAttempts     int      `json:"max_attempts,omitempty"`
	InitialInterval Duration `json:"initial_interval,omitempty"`
	Backoff         float64  `json:"backoff,omitempty"`
	MaxInterval     Duration `json:"max_interval,omitempty"`
}

// Trigger says when a task or flow runs on its own.
type Trigger struct {
	Type           string   `json:"type"`
	Cron           string   `json:"cron,omitempty"`
	Timezone       string   `json:"timezone,omitempty"`
	Interval       Duration `json:"interval,omitempty"`
	Phase          Duration `json:"phase,omitempty"`
	Overlap        string   `json:"overlap,omitempty"`
	CatchupWindow  Duration `json:"catchup_window,omitempty"`
	PauseOnFailure bool     `json:"pause_on_failure,omitempty"`
}
