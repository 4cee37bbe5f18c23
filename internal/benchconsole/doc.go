// Package benchconsole measures the console's read routes at a year of
// records, as `make bench-console` runs it.
//
// Generate writes the records through the store's own write paths
// (CreateFlow for definitions, ApplyMirrorBatches for runs, nodes,
// instances and transitions: the mirror's upserts, many runs per
// statement), so the rows, their defaults and their indexes are the ones
// production writes. Drive then serves the real api.Server over HTTP with a
// real token and times each console query; Summarize turns the timings
// into percentiles.
package benchconsole
