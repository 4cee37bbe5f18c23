// Package bench measures the flow interpreter (workflows.RunWorkflow)
// against Temporal workflows written by hand for the same DAG shapes, on one
// embedded Temporal server with one set of workers, as `make bench` runs it.
//
// Machines that run it are shared and noisy, so nothing is reported as an
// absolute speed: every variant of a shape runs interleaved with the others
// in the same process (interpreter with the mirror off, with it on, and the
// hand-written workflow), repeated, and the interpreter is reported as a
// ratio of medians against the hand-written workflow. History-derived
// figures (events and workflow tasks per node, hop latencies and where a hop
// spends its time) explain the ratios and do not depend on the noise.
//
// The control shape (RunControl, -shapes control) is the exception: it
// times control operations through the real HTTP API (api.New over the
// bench's mirror and engine), POST → answer and POST → effect in the
// mirror, as percentiles rather than ratios.
//
// The package never embeds the Temporal server itself (the command does), so
// its tests stay pure: shape generators and the history analysis.
package bench
