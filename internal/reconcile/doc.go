// Package reconcile repairs the relational mirror from Temporal. The
// workflow writes the mirror as it goes, but a write can be lost (the
// database was down longer than the write's retries, an operator edited a
// row, a start failed half-way); the reconciler compares each run that is
// not closed for good with its workflow (describe plus the state query)
// and rewrites what differs through the mirror's own rev-guarded upserts,
// so it can never overwrite a newer write with an older view.
package reconcile
