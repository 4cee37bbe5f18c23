// Package workflows holds Baton's Temporal workflows: one generic
// interpreter (RunWorkflow) that executes every flow, and every single task
// as a one-node flow, from the definition snapshot in its input.
//
// Code here is replayed by Temporal and must be deterministic: it imports
// only the SDK's workflow, temporal and log packages and pure Baton packages
// (internal/dag, internal/status); it never reads the clock, randomness,
// the network or the database, and never ranges over a map without sorting.
// Every change of behaviour goes behind workflow.GetVersion and is guarded by
// the replay tests over the histories in testdata/.
package workflows
