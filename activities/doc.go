// Package activities holds Baton's Temporal activities as methods on structs
// that carry their dependencies: Tasks executes task instances on a worker
// (through internal/executor), Mirror writes the workflow's batched state
// changes to the relational mirror and answers which workers are alive,
// Alerts delivers alert events to their channels, once per channel.
// Activities classify their own failures: a task that fails is a result,
// not an error; an error means the infrastructure failed.
package activities
