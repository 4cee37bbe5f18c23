package quartz

import (
	"time"

	"go.temporal.io/sdk/client"
)

// ValidateFixedRate checks a fixed-rate trigger the way Temporal's server
// will, and more strictly where Temporal would silently round: it counts
// interval and phase in whole seconds.
func ValidateFixedRate(interval, phase time.Duration) error {
	switch {
	case interval < time.Second:
		return &ParseError{Field: "interval", Value: interval.String(), Reason: "is shorter than 1s"}
	case interval%time.Second != 0:
		return &ParseError{Field: "interval", Value: interval.String(), Reason: "is not a whole number of seconds"}
	case phase < 0:
		return &ParseError{Field: "phase", Value: phase.String(), Reason: "is negative"}
	case phase%time.Second != 0:
		return &ParseError{Field: "phase", Value: phase.String(), Reason: "is not a whole number of seconds"}
	case phase >= interval:
		return &ParseError{Field: "phase", Value: phase.String(), Reason: "must be shorter than the interval " + interval.String()}
	}
	return nil
}

// FixedRateSpec is a schedule that fires every interval, for periods cron
// cannot express (every 90 minutes, every 7 hours). Temporal anchors the
// grid at the Unix epoch, not at the schedule's creation: it fires at the
// instants t with (t - phase) a multiple of interval since 1970-01-01
// 00:00:00 UTC, whatever the time zone, so a 90m interval with 0 phase
// fires at 00:00, 01:30, 03:00 UTC.
func FixedRateSpec(interval, phase time.Duration) (client.ScheduleSpec, error) {
	if err := ValidateFixedRate(interval, phase); err != nil {
		return client.ScheduleSpec{}, err
	}
	return client.ScheduleSpec{
		Intervals: []client.ScheduleIntervalSpec{{Every: interval, Offset: phase}},
	}, nil
}

// NextFixedRate is the first fire time of FixedRateSpec(interval, phase)
// strictly after `after`, for previews. It assumes a valid interval and
// phase.
func NextFixedRate(interval, phase time.Duration, after time.Time) time.Time {
	iv, ph := int64(interval/time.Second), int64(phase/time.Second)
	ts := after.Unix() - ph
	// Floor division: Unix seconds before 1970 are negative.
	k := ts / iv
	if ts%iv < 0 {
		k--
	}
	return time.Unix((k+1)*iv+ph, 0).UTC()
}
