// Package benchload drives a real `baton dev` process with concurrent flow
// runs and control operations mixed in, then checks that no record was
// lost (every run in the state it should reach, every node and instance
// row present, each script executed as often as its attempts say, and the
// mirror equal to Temporal's view) and reports throughput, API latency,
// mirror lag and the process's resident memory over time.
//
// It is `make bench-load` (one batch) and, with -duration, the soak: the
// same batches back to back, sampling the resident memory of `baton dev`
// to show whether it plateaus. Figures go into docs/benchmarks.md.
package benchload
