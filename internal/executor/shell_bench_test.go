package executor

import (
	"context"
	"testing"

	"github.com/baton-sched/baton/internal/dag"
	"github.com/baton-sched/baton/internal/status"
)

// BenchmarkShellTrue is the executor's own cost per instance: `true` run
// as a shell task (work dir, outputs file, process group, the /proc scans
// of the fallback path without a cgroup, the live log, the heartbeat),
// one at a time and eight at once.
func BenchmarkShellTrue(b *testing.B) {
	task := dag.Task{Kind: dag.KindShell, Shell: &dag.ShellSpec{Script: "true"}}
	root := b.TempDir()
	run := func() {
		chunks := NewChunkWriter(func(int, int64, []byte) error { return nil }, ChunkOptions{})
		res := Execute(context.Background(), Request{Task: task, RunID: "r", NodeID: "n", InstanceID: "r.n.0.1",
			Attempt: 1, ShardTotal: 1, WorkRoot: root, Log: chunks, Heartbeat: func() {}})
		_ = chunks.Close()
		if res.Status != status.InstanceSuccess {
			b.Fatalf("true ended %s: %s", res.Status, res.Message)
		}
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			run()
		}
	})
	b.Run("parallel-8", func(b *testing.B) {
		b.SetParallelism(4) // 4 × GOMAXPROCS (2) goroutines
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				run()
			}
		})
	})
}
