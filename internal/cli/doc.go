// Package cli is the `baton` command line client of the REST API: login,
// definitions (apply, list, diff, run), runs and their operations, logs,
// backfills, cron previews, workers and the audit log.
//
// It talks to the API only over HTTP, as any other client does, so that
// everything it can do a script or a console can do too. Output is a human
// table by default and the API's own JSON (or YAML) with -o; exit codes are
// 0 ok, 1 error, 2 usage, 3 refused (an HTTP 409).
package cli
