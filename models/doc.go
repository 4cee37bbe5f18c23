// Package models owns Baton's relational mirror: the GORM models for
// definitions (tasks, flows and their immutable versions), execution records
// (runs, node runs, instances, transitions, logs), audit, workers and tokens,
// and the stores that read and write them on MySQL/MariaDB and SQLite.
//
// Store methods take a context first and return domain errors (ErrNotFound,
// ErrConflict) rather than GORM's, so callers never import GORM. Execution
// records are written with idempotent upserts whose Rev never moves
// backwards: a late or repeated write of an older state is a no-op.
package models
