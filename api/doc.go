// Package api is Baton's REST API v1 (design §8), served with Gin.
//
// Conventions every route follows:
//
//   - Everything under /api needs "Authorization: Bearer <token>". Viewers
//     may only read; operators may do everything but manage tokens; admins
//     everything. /healthz is open.
//   - Errors are {"error":{"code","message","details"}}. Handlers report
//     errors with c.Error and return; one middleware maps them: dag.Problems
//     to 400 invalid_definition with every problem in details, models'
//     ErrNotFound and ErrConflict to 404 and 409, bad input to 400
//     bad_request naming the field, anything else to a logged 500 that
//     shows nothing internal.
//   - Bodies are decoded strictly: an unknown field is a 400, not silently
//     dropped. Definition bodies may carry the read-only fields GET returns
//     (version, enabled, created_at, ...), which are ignored, so a GET can be
//     edited and PUT back.
//   - Lists take limit (default 50, at most 500; larger values are lowered)
//     and offset, and answer {"items","total","limit","offset"}.
//   - X-Request-ID is kept when the caller sends a sane one, else generated,
//     and echoed; it lands in the audit log and in transitions.
//   - Every POST, PUT and DELETE under /api is written to the audit log with
//     its final status, failures and refusals included.
//
// Instance logs (GET /api/v1/instances/{id}/log) are served in pieces:
// offset and max select the bytes, X-Log-Size says how much is stored and
// X-Next-Offset where to continue. A console tails a running instance by
// polling from X-Next-Offset. follow=true is accepted and for now answers
// like a single read; streaming will keep the connection open instead.
package api
