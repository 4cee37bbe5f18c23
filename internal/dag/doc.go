// Package dag holds Baton's definition types (flows, nodes, edges, tasks) and
// the pure rules over them: validation, topological order, readiness and
// skip propagation. It is shared by the REST API, which rejects a bad
// definition with every problem listed, and by the interpreter workflow, which
// must therefore find nothing here that is non-deterministic: no I/O, no
// clock, no randomness, and no iteration over maps without sorting.
package dag
