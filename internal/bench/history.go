package bench

import (
	"fmt"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"

	"github.com/baton-sched/baton/workflows"
)

// Execution is the history of one Temporal run, in event order; a Baton run
// is a chain of them when it continued as new.
type Execution []*historypb.HistoryEvent

// HistoryStats is what one run's history says about its cost and latency.
type HistoryStats struct {
	Runs          int // executions in the continue-as-new chain
	Events        int
	Bytes         int // encoded size of all events
	WorkflowTasks int // WorkflowTaskCompleted events
	Activities    int // ActivityTaskScheduled events
	Markers       int // MarkerRecorded events: local activities (the mirror writes)
	// Hops has one entry per dependency pair: upstream ActivityTaskCompleted
	// → downstream ActivityTaskStarted.
	Hops []time.Duration
	// Critical has one entry per node with upstreams, from the completion of
	// its last upstream, i.e. the hop that actually delays the node. It is
	// split at the workflow task that scheduled the node: ToTask (completion
	// recorded → that workflow task started), InTask (workflow task started →
	// completed: the workflow code, and the mirror's local activity when on)
	// and ToActivity (workflow task completed → activity started: dispatch
	// through matching to a poller).
	Critical, ToTask, InTask, ToActivity []time.Duration
	// Startup is workflow start → first activity started; Finish is last
	// activity completed → workflow closed; Handover sums, over every
	// continue-as-new, the last activity completed in one run → the first
	// activity started in the next: time in which no task runs.
	Startup, Finish, Handover time.Duration
	// Instance has one entry per activity: ActivityTaskStarted →
	// ActivityTaskCompleted, the task activity's own time (for shell
	// tasks: the running mark, the process and its supervision, the
	// outputs, the log) plus its completion call.
	Instance []time.Duration
}

// NodeOf tells which node an ActivityTaskScheduled event is for.
type NodeOf func(*historypb.ActivityTaskScheduledEventAttributes) (string, error)

// NodeFromRequest reads the node id from the workflows.TaskRequest input,
// which both the interpreter and the hand-written workflows send, decoded
// with dc (nil: the SDK's default data converter).
func NodeFromRequest(dc converter.DataConverter) NodeOf {
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	return func(a *historypb.ActivityTaskScheduledEventAttributes) (string, error) {
		var req workflows.TaskRequest
		if err := dc.FromPayloads(a.GetInput(), &req); err != nil {
			return "", fmt.Errorf("decode task request of activity %s: %w", a.GetActivityId(), err)
		}
		if req.NodeID == "" {
			return "", fmt.Errorf("activity %s: task request names no node", a.GetActivityId())
		}
		return req.NodeID, nil
	}
}

type scheduled struct {
	run     int
	wftDone int64 // WorkflowTaskCompleted event that scheduled it
}

// Analyze computes HistoryStats over a continue-as-new chain. deps maps each
// task node to the task nodes it waits for (TaskDeps).
func Analyze(chain []Execution, deps map[string][]string, nodeOf NodeOf) (HistoryStats, error) {
	st := HistoryStats{Runs: len(chain)}
	byID := make([]map[int64]*historypb.HistoryEvent, len(chain))
	sched := map[string]scheduled{}
	started := map[string]time.Time{}
	completed := map[string]time.Time{}
	var prevDone time.Time // last activity completion of the previous run
	for r, ex := range chain {
		byID[r] = make(map[int64]*historypb.HistoryEvent, len(ex))
		nodeAt := map[int64]string{}
		var firstStart, lastDone time.Time
		for _, e := range ex {
			byID[r][e.GetEventId()] = e
			st.Events++
			st.Bytes += proto.Size(e)
			switch e.GetEventType() {
			case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
				st.WorkflowTasks++
			case enumspb.EVENT_TYPE_MARKER_RECORDED:
				st.Markers++
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				st.Activities++
				a := e.GetActivityTaskScheduledEventAttributes()
				id, err := nodeOf(a)
				if err != nil {
					return st, err
				}
				nodeAt[e.GetEventId()] = id
				sched[id] = scheduled{run: r, wftDone: a.GetWorkflowTaskCompletedEventId()}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
				t := e.GetEventTime().AsTime()
				if id, ok := nodeAt[e.GetActivityTaskStartedEventAttributes().GetScheduledEventId()]; ok {
					started[id] = t
				}
				if firstStart.IsZero() || t.Before(firstStart) {
					firstStart = t
				}
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
				t := e.GetEventTime().AsTime()
				if id, ok := nodeAt[e.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]; ok {
					completed[id] = t
					if s, ok := started[id]; ok {
						st.Instance = append(st.Instance, t.Sub(s))
					}
				}
				if t.After(lastDone) {
					lastDone = t
				}
			}
		}
		switch {
		case r == 0 && len(ex) > 0 && !firstStart.IsZero():
			st.Startup = firstStart.Sub(ex[0].GetEventTime().AsTime())
		case !prevDone.IsZero() && !firstStart.IsZero():
			st.Handover += firstStart.Sub(prevDone)
		}
		if !lastDone.IsZero() {
			prevDone = lastDone
		}
		if r == len(chain)-1 && len(ex) > 0 && !prevDone.IsZero() {
			st.Finish = ex[len(ex)-1].GetEventTime().AsTime().Sub(prevDone)
		}
	}
	for _, v := range sortedNodes(deps) {
		ups := deps[v]
		start, ok := started[v]
		if !ok || len(ups) == 0 {
			continue
		}
		var last time.Time
		all := true
		for _, u := range ups {
			done, ok := completed[u]
			if !ok {
				all = false
				continue
			}
			st.Hops = append(st.Hops, start.Sub(done))
			if done.After(last) {
				last = done
			}
		}
		if !all {
			continue
		}
		st.Critical = append(st.Critical, start.Sub(last))
		s := sched[v]
		done := byID[s.run][s.wftDone]
		if done.GetEventType() != enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			continue
		}
		begun := byID[s.run][done.GetWorkflowTaskCompletedEventAttributes().GetStartedEventId()]
		if begun == nil {
			continue
		}
		t1, t2 := begun.GetEventTime().AsTime(), done.GetEventTime().AsTime()
		st.ToTask = append(st.ToTask, t1.Sub(last))
		st.InTask = append(st.InTask, t2.Sub(t1))
		st.ToActivity = append(st.ToActivity, start.Sub(t2))
	}
	return st, nil
}

func sortedNodes(deps map[string][]string) []string {
	ids := make([]string, 0, len(deps))
	for id := range deps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Median of ds (0 when empty); ds is not modified.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
