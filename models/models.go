package models

import (
	"time"

	"gorm.io/gorm"
)

// Task is a task definition's head row; its content lives in TaskVersion.
type Task struct {
	ID          string `gorm:"primaryKey;size:64"`
	Name        string `gorm:"size:64;index"`
	Group       string `gorm:"column:group_name;size:64;index"`
	Version     int    // current (latest) version
	Enabled     bool
	TriggerType string `gorm:"size:16"`
	CreatedBy   string `gorm:"size:64"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   gorm.DeletedAt `gorm:"index"`
}

// TaskVersion is one immutable save of a task; Spec is the dag.Task JSON.
type TaskVersion struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	TaskID    string `gorm:"size:64;uniqueIndex:ux_task_version,priority:1"`
	Version   int    `gorm:"uniqueIndex:ux_task_version,priority:2"`
	Spec      string `gorm:"type:longtext"`
	CreatedBy string `gorm:"size:64"`
	CreatedAt time.Time
}

// Flow is a flow definition's head row; its content lives in FlowVersion.
type Flow struct {
	ID          string `gorm:"primaryKey;size:64"`
	Name        string `gorm:"size:64;index"`
	Group       string `gorm:"column:group_name;size:64;index"`
	Version     int
	Enabled     bool
	TriggerType string `gorm:"size:16"`
	CreatedBy   string `gorm:"size:64"`
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   gorm.DeletedAt `gorm:"index"`
}

// FlowVersion is one immutable save of a flow; Spec is the dag.Flow JSON.
type FlowVersion struct {
	ID        uint64 `gorm:"primaryKey;autoIncrement"`
	FlowID    string `gorm:"size:64;uniqueIndex:ux_flow_version,priority:1"`
	Version   int    `gorm:"uniqueIndex:ux_flow_version,priority:2"`
	Spec      string `gorm:"type:longtext"`
	CreatedBy string `gorm:"size:64"`
	CreatedAt time.Time
}

// Run is one triggering of a task or flow (a batch). The composite indexes
// serve the console's runs list: each filter it offers alone, followed by
// the list's order (created_at DESC, id DESC), so a filtered first page
// and every keyset page after it is an index range read, not a sort of
// a year of rows.
type Run struct {
	ID             string `gorm:"primaryKey;size:64;index:ix_run_created,priority:2;index:ix_run_status_created,priority:3;index:ix_run_group_created,priority:3;index:ix_run_def_created,priority:3;index:ix_run_trigger_created,priority:3;index:ix_run_initiator_created,priority:3"` // batch id
	Kind           string `gorm:"size:8;index:ix_run_def,priority:1"`                                                                                                                                                                                                                    // task | flow
	DefinitionID   string `gorm:"size:64;index:ix_run_def,priority:2;index:ix_run_def_created,priority:1;index:ix_run_def_bizdate,priority:1"`
	DefinitionName string `gorm:"size:64;index"`
	Version        int
	Group          string `gorm:"column:group_name;size:64;index:ix_run_group_created,priority:1"`
	Status         string `gorm:"size:20;index:ix_run_status_created,priority:1"`
	Trigger        string `gorm:"size:16;index:ix_run_trigger_created,priority:1"`
	Bizdate        string `gorm:"size:10;index;index:ix_run_def_bizdate,priority:2"` // YYYY-MM-DD
	Params         string `gorm:"type:text"`                                         // JSON object
	Initiator      string `gorm:"size:64;index:ix_run_initiator_created,priority:1"`
	ParentRunID    string `gorm:"size:64;index"`
	BackfillID     string `gorm:"size:64;index"`
	WorkflowID     string `gorm:"size:128"`
	TemporalRunID  string `gorm:"size:64"`
	Message        string `gorm:"type:text"`
	Rev            int64
	// ChangeSeq grows with every write to the run or to what its detail
	// shows (nodes, instances and their log sizes, transitions,
	// executions), whichever process makes it: a cache of an answer built
	// from the run holds while the run's ChangeSeq is the one it was built
	// at. Writers bump it after (or with) their change, never before.
	ChangeSeq  int64     `gorm:"not null;default:0"`
	CreatedAt  time.Time `gorm:"index:ix_run_created,priority:1;index:ix_run_status_created,priority:2;index:ix_run_group_created,priority:2;index:ix_run_def_created,priority:2;index:ix_run_trigger_created,priority:2;index:ix_run_initiator_created,priority:2"`
	StartedAt  *time.Time
	FinishedAt *time.Time
	UpdatedAt  time.Time
}

// NodeRun is the state of one node inside a run.
type NodeRun struct {
	ID         uint64 `gorm:"primaryKey;autoIncrement"`
	RunID      string `gorm:"size:64;uniqueIndex:ux_node_run,priority:1"`
	NodeID     string `gorm:"size:64;uniqueIndex:ux_node_run,priority:2;index"`
	Status     string `gorm:"size:20"`
	Forced     bool
	Attempts   int
	Outputs    string `gorm:"type:text"` // JSON object
	Message    string `gorm:"type:text"`
	Rev        int64
	StartedAt  *time.Time
	FinishedAt *time.Time
	UpdatedAt  time.Time
}

// Instance is one execution of a node on one worker or shard.
type Instance struct {
	ID string `gorm:"primaryKey;size:191"` // run.node.shard.attempt
	// ix_inst_run_order is the order ListInstances returns a run's
	// instances in, so a 10,000-node run's are read without a sort.
	RunID      string `gorm:"size:64;index:ix_inst_run_order,priority:1"`
	NodeID     string `gorm:"size:64;index:ix_inst_run_order,priority:2"`
	ShardIndex int    `gorm:"index:ix_inst_run_order,priority:3"`
	Attempt    int    `gorm:"index:ix_inst_run_order,priority:4"`
	WorkerID   string `gorm:"size:128;index"`
	Host       string `gorm:"size:128"`
	Status     string `gorm:"size:20;index"`
	ExitCode   *int
	Message    string `gorm:"type:text"`
	LogSize    int64
	Rev        int64
	CreatedAt  time.Time
	// DispatchedAt is when the engine queued the instance for a worker: the
	// writer's time when it says, otherwise the first mirror write of the
	// instance (the workflow writes it, waiting, as it queues it).
	DispatchedAt *time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	UpdatedAt    time.Time
}

// Transition is one entry of the transition log.
type Transition struct {
	ID         uint64 `gorm:"primaryKey;autoIncrement"`
	RunID      string `gorm:"size:64;index;uniqueIndex:ux_transition,priority:1"`
	Entity     string `gorm:"size:10;uniqueIndex:ux_transition,priority:2"` // run | node | instance
	EntityID   string `gorm:"size:191;uniqueIndex:ux_transition,priority:3"`
	FromStatus string `gorm:"size:20"`
	ToStatus   string `gorm:"size:20;uniqueIndex:ux_transition,priority:4"`
	Actor      string `gorm:"size:64"`
	Reason     string `gorm:"type:text"`
	RequestID  string `gorm:"size:64"`
	// At completes the replay key: a mirror batch written twice must not
	// log its transitions twice.
	At time.Time `gorm:"uniqueIndex:ux_transition,priority:5"`
}

// LogChunk is a piece of an instance's output, in order of Seq.
type LogChunk struct {
	ID         uint64 `gorm:"primaryKey;autoIncrement"`
	InstanceID string `gorm:"size:191;uniqueIndex:ux_log_chunk,priority:1"`
	Seq        int    `gorm:"uniqueIndex:ux_log_chunk,priority:2"`
	Offset     int64
	Data       []byte    `gorm:"type:longblob"`
	CreatedAt  time.Time `gorm:"index"`
}

// AuditEntry records one mutating call: who (the token's id and name) did
// what (a stable action name such as "run.stop") to which target, with
// which parameters (secrets redacted), and whether it worked.
type AuditEntry struct {
	ID      uint64    `gorm:"primaryKey;autoIncrement"`
	At      time.Time `gorm:"index"`
	ActorID uint64    `gorm:"index"`
	Actor   string    `gorm:"size:64;index"`
	Action  string    `gorm:"size:48;index"`
	Method  string    `gorm:"size:8"`
	Path    string    `gorm:"size:255"`
	// Target is what the call acted on: a kind (flow, task, run, node,
	// instance, backfill, token, schedule), its id and, for node
	// operations, the node.
	TargetKind string `gorm:"size:16;index:ix_audit_target,priority:1"`
	TargetID   string `gorm:"size:191;index:ix_audit_target,priority:2"`
	TargetNode string `gorm:"size:64"`
	// Params is the request as JSON: path and query parameters and the
	// body, with secrets replaced by "[redacted]".
	Params string `gorm:"type:mediumtext"`
	// Result is applied, dry_run, refused (4xx), failed (5xx) or replayed
	// (an Idempotency-Key repeat, which had no effect of its own).
	Result         string `gorm:"size:16;index"`
	Code           string `gorm:"size:64"` // error code of a refused or failed call
	Status         int    `gorm:"index"`
	RequestID      string `gorm:"size:64;index"`
	IdempotencyKey string `gorm:"size:64"`
	ClientAddr     string `gorm:"size:64"`
	// Detail is the error message of a refused or failed call (before
	// the Code column existed, it held the code).
	Detail string `gorm:"type:text"`
}

// Audit results.
const (
	AuditApplied  = "applied"
	AuditDryRun   = "dry_run" // answered what would happen, changed nothing
	AuditRefused  = "refused"
	AuditFailed   = "failed"
	AuditReplayed = "replayed"
)

// Worker is a registered worker process.
type Worker struct {
	ID        string `gorm:"primaryKey;size:128"`
	Group     string `gorm:"column:group_name;size:64;index"`
	Host      string `gorm:"size:128"`
	PID       int
	Running   int
	StartedAt time.Time
	LastSeen  time.Time `gorm:"index"`
}

// Token is an API bearer token; only its SHA-256 is stored.
type Token struct {
	ID uint64 `gorm:"primaryKey;autoIncrement"`
	// Name is unique among every token ever issued, revoked ones
	// included, so a recorded actor name always means one token.
	Name      string `gorm:"size:64;uniqueIndex:ux_token_name"`
	Hash      string `gorm:"size:64;uniqueIndex"`
	Role      string `gorm:"size:16"` // admin | operator | viewer
	CreatedAt time.Time
	LastUsed  *time.Time
	Revoked   bool
}

// All lists every model, in migration order.
func All() []any {
	return []any{&Task{}, &TaskVersion{}, &Flow{}, &FlowVersion{}, &Run{}, &NodeRun{}, &Instance{},
		&Transition{}, &LogChunk{}, &AuditEntry{}, &Worker{}, &Token{}, &RunExecution{}, &Backfill{}, &IdempotencyKey{},
		&AlertChannel{}, &GroupAlertRules{}, &Alert{}}
}

// RunExecution links a run (batch) to one of its Temporal runs: the first,
// and one per rerun-from-node reset, with what it re-executed.
type RunExecution struct {
	ID            uint64 `gorm:"primaryKey;autoIncrement"`
	RunID         string `gorm:"size:64;index"`
	TemporalRunID string `gorm:"size:64"`
	Reason        string `gorm:"size:32"` // start | rerun-from
	Node          string `gorm:"size:64"`
	Reexecuted    string `gorm:"type:text"` // JSON list of node ids
	Actor         string `gorm:"size:64"`
	RequestID     string `gorm:"size:64"`
	CreatedAt     time.Time
}

// Backfill is a backfill (补数据) request and its progress.
type Backfill struct {
	ID             string `gorm:"primaryKey;size:64"`
	Kind           string `gorm:"size:8"`
	DefinitionID   string `gorm:"size:64;index"`
	DefinitionName string `gorm:"size:64"`
	Version        int
	Spec           string `gorm:"type:longtext"` // the request, JSON
	Status         string `gorm:"size:16;index"`
	Total          int
	Done           int
	Failed         int
	Running        int
	Waiting        int
	Initiator      string    `gorm:"size:64"`
	CreatedAt      time.Time `gorm:"index"`
	UpdatedAt      time.Time
}
