// Package metrics defines every Prometheus series Baton exports and the one
// registry they live on, with the Temporal SDK's own metrics bridged onto
// the same registry, so /metrics of `baton api`, `baton dev` and each
// `baton worker --metrics-addr` is one scrape.
//
// Series are recorded through methods on *Metrics; each is a no-op on a nil
// *Metrics, so components built without metrics (tests, tools) need no
// checks of their own.
package metrics
