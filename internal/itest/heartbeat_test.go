package itest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/baton-sched/baton/internal/engine"
)

// A heartbeat RPC that fails now and then (a busy Temporal frontend) must
// not stop a healthy task: it is tried again at the next beat, and the
// task runs to its end. (With the SDK's own heartbeat, one failed RPC
// cancelled the task, which ended "stopped" and failed its run.)
func TestSlowHeartbeatsDoNotStopATask(t *testing.T) {
	var failing atomic.Bool
	var failed atomic.Int64
	intercept := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if failing.Load() && method == "/temporal.api.workflowservice.v1.WorkflowService/RecordActivityTaskHeartbeat" {
			failed.Add(1)
			return status.Error(codes.DeadlineExceeded, "injected: the frontend is too busy to answer")
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	s := newStackOpts(t, "sqlite:"+t.TempDir()+"/baton.db", stackOptions{WorkerDial: []engine.DialOption{func(o *client.Options) {
		o.ConnectionOptions.DialOptions = append(o.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(intercept))
	}}})
	var task struct {
		ID string `json:"id"`
	}
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks", map[string]any{"name": "slow-heartbeats", "kind": "shell",
		"shell": map[string]any{"script": "sleep 8; echo done"}}, &task); code != 201 {
		t.Fatalf("create task: %d", code)
	}
	var run runView
	if code := call(t, s.api.URL, "POST", "/api/v1/tasks/"+task.ID+"/runs", map[string]any{}, &run); code != 201 {
		t.Fatalf("run task: %d", code)
	}
	if _, err := engine.Poll(context.Background(), 30*time.Second, func() (struct{}, error) {
		var v runView
		call(t, s.api.URL, "GET", "/api/v1/runs/"+run.ID, nil, &v)
		if len(v.Nodes) == 1 && len(v.Nodes[0].Instances) == 1 && v.Nodes[0].Instances[0].Status == "running" {
			return struct{}{}, nil
		}
		return struct{}{}, engine.ErrPending
	}); err != nil {
		t.Fatalf("the task never ran: %v", err)
	}
	// Four beats in a row fail (2 s apart), well inside the 15 s heartbeat timeout.
	failing.Store(true)
	time.Sleep(5 * time.Second)
	failing.Store(false)
	if failed.Load() == 0 {
		t.Fatal("no heartbeat was refused: the fault never reached the task")
	}
	run = waitRun(t, s.api.URL, run.ID, time.Minute)
	if run.Status != "success" || len(run.Nodes) != 1 || len(run.Nodes[0].Instances) != 1 || run.Nodes[0].Instances[0].Status != "success" {
		t.Fatalf("after %d refused heartbeats the run ended %s: %+v", failed.Load(), run.Status, run.Nodes)
	}
}
