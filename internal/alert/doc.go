// Package alert turns an alert event of a run (workflows.AlertEvent) into
// a message and delivers it to one channel: a webhook (a JSON POST whose
// body comes from a built-in template for DingTalk, WeCom, Feishu, Slack
// or a generic shape, or from a custom text/template; optionally signed)
// or email over SMTP. It also seals channel secrets for storage (AES-GCM
// under BATON_SECRET_KEY) and resolves secrets kept in the environment
// (env:NAME).
//
// The package knows nothing of the database: activities.Alerts loads the
// channels, claims the deduplication rows and records the history; the
// API validates and seals channels with the same code before saving them.
package alert
