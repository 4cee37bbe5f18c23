package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/baton-sched/baton/internal/alert"
	"github.com/baton-sched/baton/models"
	"github.com/baton-sched/baton/workflows"
)

// Alerts delivers alert events (workflows.DeliverAlertActivity) on the
// flows queue.
type Alerts struct {
	Store *models.Store
	// Sealer opens sealed channel secrets; nil when no BATON_SECRET_KEY
	// is configured (then only env:NAME secrets work).
	Sealer *alert.Sealer
	Sender *alert.Sender
	// ConsoleURL is where messages link runs to (BATON_CONSOLE_URL).
	ConsoleURL string
	// Lookup reads env:NAME secrets; nil is os.LookupEnv.
	Lookup func(string) (string, bool)
}

// Error types of Deliver's failures, for the workflow's retry policy.
const (
	// AlertDeliveryFailed: a channel refused or could not be reached;
	// retried with backoff.
	AlertDeliveryFailed = "AlertDeliveryFailed"
	// AlertChannelMissing: a rule names a channel that no longer exists;
	// not retried (recorded in the history).
	AlertChannelMissing = "AlertChannelMissing"
)

// dedupeKey is the key column of an event's rows. Events without a run
// (backfill_finished, schedule_paused) fall back to what they are about.
func dedupeKey(ev workflows.AlertEvent) string {
	if ev.Key != "" || ev.RunID != "" {
		return ev.Key
	}
	if ev.BackfillID != "" {
		return "backfill:" + ev.BackfillID
	}
	return "schedule:" + ev.ScheduleID
}

// Deliver sends ev to each of its channels once: a channel whose row for
// (run, event, key, channel) is already sent is skipped, so an activity
// retry, a replayed workflow task or a reset never pages twice. Every
// attempt is recorded. It fails retryably when any channel failed, and
// non-retryably when the only problem is a channel that no longer exists.
func (a *Alerts) Deliver(ctx context.Context, ev workflows.AlertEvent) error {
	if ev.Event == "" {
		return temporal.NewNonRetryableApplicationError("alert event without an event name", "BadAlertEvent", nil)
	}
	msg := alert.Render(ev, a.ConsoleURL)
	var failed, missing []string
	seen := map[string]bool{}
	for _, name := range ev.Channels {
		if seen[name] {
			continue // two rules naming one channel page once
		}
		seen[name] = true
		stored, err := a.Store.AlertChannelByName(ctx, name)
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			return fmt.Errorf("deliver %s alert: %w", ev.Event, err)
		}
		kind := ""
		if stored != nil {
			kind = stored.Kind
		}
		row, err := a.Store.ClaimAlert(ctx, &models.Alert{RunID: ev.RunID, Event: string(ev.Event), Key: dedupeKey(ev),
			Channel: name, ChannelKind: kind, DefinitionID: ev.DefinitionID, Title: msg.Title})
		if err != nil {
			return fmt.Errorf("deliver %s alert: %w", ev.Event, err)
		}
		if row.Status == models.AlertSent {
			continue
		}
		var sendErr error
		if stored == nil {
			sendErr = fmt.Errorf("channel %q no longer exists", name)
		} else {
			sendErr = a.send(ctx, stored, msg)
		}
		if err := a.Store.RecordAlertAttempt(ctx, row.ID, sendErr); err != nil {
			return fmt.Errorf("deliver %s alert: %w", ev.Event, err)
		}
		switch {
		case stored == nil:
			missing = append(missing, name)
		case sendErr != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", name, sendErr))
		}
	}
	if len(failed) > 0 {
		return temporal.NewApplicationError(fmt.Sprintf("deliver %s alert: %s", ev.Event, strings.Join(failed, "; ")), AlertDeliveryFailed)
	}
	if len(missing) > 0 {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("deliver %s alert: channel(s) %s no longer exist", ev.Event, strings.Join(missing, ", ")), AlertChannelMissing, nil)
	}
	return nil
}

// send opens a stored channel's secrets and delivers msg to it.
func (a *Alerts) send(ctx context.Context, row *models.AlertChannel, msg alert.Message) error {
	ch, err := a.Open(row)
	if err != nil {
		return err
	}
	return a.sender().Send(ctx, ch, msg)
}

// Open decodes a stored channel and opens its secrets.
func (a *Alerts) Open(row *models.AlertChannel) (*alert.Channel, error) {
	var ch alert.Channel
	if err := json.Unmarshal([]byte(row.Config), &ch); err != nil {
		return nil, fmt.Errorf("channel %q: stored config: %w", row.Name, err)
	}
	ch.Name, ch.Kind = row.Name, row.Kind
	lookup := a.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if err := a.Sealer.Open(&ch, lookup); err != nil {
		return nil, fmt.Errorf("channel %q: %w", row.Name, err)
	}
	return &ch, nil
}

func (a *Alerts) sender() *alert.Sender {
	if a.Sender != nil {
		return a.Sender
	}
	return &alert.Sender{}
}

// Test sends a channel's test message now, outside any run, and records
// nothing: the answer of POST /api/v1/alert-channels/{id}/test.
func (a *Alerts) Test(ctx context.Context, row *models.AlertChannel, ev workflows.AlertEvent) error {
	ch, err := a.Open(row)
	if err != nil {
		return err
	}
	return a.sender().Send(ctx, ch, alert.Render(ev, a.ConsoleURL))
}
