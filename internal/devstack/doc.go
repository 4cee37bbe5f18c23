// Package devstack runs a complete Temporal server (and optionally its Web
// UI) inside the current process, persisted in a SQLite file or in memory.
// It is what `baton dev` embeds and what the integration tests start, so
// that one binary with no external services gives a real Temporal: the same
// frontend, history, matching and worker services a cluster runs. Custom
// search attributes are registered on the namespace at creation.
package devstack
