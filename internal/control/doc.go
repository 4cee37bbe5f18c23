// Package control decides whether an operator's request (stop, pause,
// retry, skip, rerun downstream, rollback, ...) may be applied to a run in
// its current state, and what it would touch. It is pure and deterministic:
// the API calls it against the workflow's queried state to answer 409 or a
// dry run, and the interpreter workflow calls it again when the request
// arrives as a signal, so a request that raced with a state change is
// refused, never half-applied.
package control
