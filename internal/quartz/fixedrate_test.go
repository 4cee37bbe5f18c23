package quartz

import (
	"errors"
	"testing"
	"time"
)

func TestFixedRate(t *testing.T) {
	spec, err := FixedRateSpec(90*time.Minute, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Intervals) != 1 || spec.Intervals[0].Every != 90*time.Minute || spec.Intervals[0].Offset != 15*time.Minute || len(spec.Calendars) != 0 {
		t.Errorf("spec = %+v", spec)
	}

	bad := []struct {
		interval, phase time.Duration
		field           string
	}{
		{0, 0, "interval"},
		{999 * time.Millisecond, 0, "interval"},
		{1500 * time.Millisecond, 0, "interval"},
		{time.Minute, -time.Second, "phase"},
		{time.Minute, time.Minute, "phase"},
		{time.Minute, 2 * time.Minute, "phase"},
		{time.Minute, 1500 * time.Millisecond, "phase"},
	}
	for _, c := range bad {
		_, err := FixedRateSpec(c.interval, c.phase)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("FixedRateSpec(%v, %v) = %v, want a %s error", c.interval, c.phase, err, c.field)
		}
	}
	if err := ValidateFixedRate(time.Second, 0); err != nil {
		t.Errorf("1s: %v", err)
	}

	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	next := []struct {
		interval, phase time.Duration
		after, want     time.Time
	}{
		// Epoch-aligned: 2026-05-01 00:00 UTC is a multiple of 90 minutes
		// since 1970 (20574 days * 16 = 329184 slots).
		{90 * time.Minute, 0, day, day.Add(90 * time.Minute)},
		{90 * time.Minute, 0, day.Add(-time.Nanosecond), day},
		{90 * time.Minute, 15 * time.Minute, day, day.Add(15 * time.Minute)},
		{90 * time.Minute, 15 * time.Minute, day.Add(15 * time.Minute), day.Add(105 * time.Minute)},
		{7 * time.Hour, 0, day, time.Date(2026, 5, 1, 4, 0, 0, 0, time.UTC)}, // 20574*24 = 493776 h = 7*70539 + 3
		{time.Second, 0, day.Add(500 * time.Millisecond), day.Add(time.Second)},
		{time.Hour, 0, time.Unix(-1, 0), time.Unix(0, 0)},
	}
	for _, c := range next {
		if got := NextFixedRate(c.interval, c.phase, c.after); !got.Equal(c.want) {
			t.Errorf("NextFixedRate(%v, %v, %v) = %v, want %v", c.interval, c.phase, c.after, got, c.want)
		}
	}
}
