// Package itest holds Baton's integration tests: an in-process Temporal
// server (internal/devstack), real workers running real processes, the REST
// API over real HTTP, and the mirror on SQLite and, when
// BATON_TEST_MYSQL_DSN is set, on MariaDB/MySQL. Every test that embeds the
// server lives here so the server links into one test binary only.
package itest
