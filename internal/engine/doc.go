// Package engine connects Baton to Temporal: it dials the client, starts
// runs (workflow id from the batch id, duplicates rejected, search
// attributes set), and builds the worker of a group: one poller of the
// shared flows queue for the interpreter workflow and its mirror local
// activities, one of the group queue and one of the worker's own queue for
// task instances, plus the worker's registration heartbeat.
package engine
