package quartz

import (
	"fmt"
	"time"
)

// MaxPreview bounds Preview so one request cannot ask for unbounded work:
// a console shows a handful of fire times, a script checking a schedule a
// few dozen.
const MaxPreview = 100

// Next returns the first fire time strictly after `after`, evaluated on the
// wall clock of loc (nil means UTC), and false when the expression never
// fires again (Quartz's last year is 2199).
//
// This is the reference the Temporal compilation is checked against, so it
// is a plain search: day by day, and within a matching day second by
// second through the selected hours, minutes and seconds. A wall time that
// does not exist (spring-forward gap) is skipped; a wall time that occurs
// twice (fall-back) fires once, at its first occurrence.
func (e *Expr) Next(after time.Time, loc *time.Location) (time.Time, bool) {
	if loc == nil {
		loc = time.UTC
	}
	// Fire times are whole seconds.
	start := after.Truncate(time.Second).Add(time.Second)
	w := start.In(loc)
	y, mo, d := w.Date()
	// Every fire time after `after` has a wall time at or after `after`'s
	// own (wall times only go back in a fall-back, and the repeated ones
	// fire at their first occurrence), so the search can start there.
	h0, m0, s0 := w.Clock()
	for y <= MaxYear {
		switch {
		case !e.hasYear(y):
			y, mo, d = y+1, time.January, 1
		case e.month&(1<<mo) == 0:
			y, mo, d = nextMonth(y, mo)
		case d > daysIn(y, mo):
			y, mo, d = nextMonth(y, mo)
		default:
			if e.dayMatches(y, mo, d) {
				if t, ok := e.firstOnDay(y, mo, d, h0, m0, s0, after, loc); ok {
					return t, true
				}
			}
			y, mo, d = nextDay(y, mo, d)
		}
		// Only the day the search started on has a clock lower bound.
		h0, m0, s0 = 0, 0, 0
	}
	return time.Time{}, false
}

// firstOnDay returns the first fire time on one matching day whose wall
// clock is at or after h0:m0:s0 and whose instant is after `after`.
func (e *Expr) firstOnDay(y int, mo time.Month, d, h0, m0, s0 int, after time.Time, loc *time.Location) (time.Time, bool) {
	for h := h0; h < 24; h++ {
		if e.hour&(1<<h) == 0 {
			continue
		}
		mStart := 0
		if h == h0 {
			mStart = m0
		}
		for m := mStart; m < 60; m++ {
			if e.minute&(1<<m) == 0 {
				continue
			}
			sStart := 0
			if h == h0 && m == m0 {
				sStart = s0
			}
			for s := sStart; s < 60; s++ {
				if e.second&(1<<s) == 0 {
					continue
				}
				if t, ok := wallInstant(y, mo, d, h, m, s, loc); ok && t.After(after) {
					return t, true
				}
			}
		}
	}
	return time.Time{}, false
}

// Matches reports whether t is one of the expression's fire times in loc:
// a whole second whose wall clock matches and which is the first
// occurrence of that wall time. In a fall-back hour the second occurrence
// does not match, which is what callers use to drop Temporal's extra
// fires there (see the package documentation).
func (e *Expr) Matches(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	if t.Nanosecond() != 0 {
		return false
	}
	w := t.In(loc)
	y, mo, d := w.Date()
	h, m, s := w.Clock()
	if !e.hasYear(y) || e.month&(1<<mo) == 0 || !e.dayMatches(y, mo, d) ||
		e.hour&(1<<h) == 0 || e.minute&(1<<m) == 0 || e.second&(1<<s) == 0 {
		return false
	}
	first, ok := wallInstant(y, mo, d, h, m, s, loc)
	return ok && first.Equal(t)
}

// dayMatches applies the day-of-month or day-of-week field to one date.
func (e *Expr) dayMatches(y int, mo time.Month, d int) bool {
	last := daysIn(y, mo)
	if d < 1 || d > last {
		return false
	}
	if e.dom != nil {
		return e.dom.matches(y, mo, d, last)
	}
	return e.dow.matches(d, weekday(y, mo, d), last)
}

func (s *domSpec) matches(y int, mo time.Month, d, last int) bool {
	if s.days&(1<<d) != 0 {
		return true
	}
	for n := 0; n <= maxLastOffset; n++ {
		if s.fromLast&(1<<n) != 0 && last-n == d {
			return true
		}
		if s.nearestFromLast&(1<<n) != 0 && last-n >= 1 && nearestWeekday(y, mo, last-n, last) == d {
			return true
		}
	}
	for b := 1; b <= last; b++ {
		if s.nearest&(1<<b) != 0 && nearestWeekday(y, mo, b, last) == d {
			return true
		}
	}
	return false
}

// nearestWeekday is Quartz's W: the weekday nearest to day b, never leaving
// the month (a Saturday 1st moves to Monday the 3rd, a Sunday last day to
// Friday two days before).
func nearestWeekday(y int, mo time.Month, b, last int) int {
	switch weekday(y, mo, b) {
	case time.Saturday:
		if b == 1 {
			return 3
		}
		return b - 1
	case time.Sunday:
		if b == last {
			return b - 2
		}
		return b + 1
	}
	return b
}

func (s *dowSpec) matches(d int, wd time.Weekday, last int) bool {
	if s.days&(1<<wd) == 0 {
		return false
	}
	switch {
	case s.nth > 0:
		return (d-1)/7+1 == s.nth
	case s.last:
		return d+7 > last
	}
	return true
}

// wallInstant returns the first instant at which loc's clock shows the given
// wall time, and false when the clock skips it.
func wallInstant(y int, mo time.Month, d, h, m, s int, loc *time.Location) (time.Time, bool) {
	t := time.Date(y, mo, d, h, m, s, 0, loc)
	if !sameWall(t, y, mo, d, h, m, s) {
		return time.Time{}, false // normalised out of a spring-forward gap
	}
	// time.Date may pick either occurrence of a repeated wall time; an
	// earlier one exists when the clock went back at the start of t's
	// zone period.
	_, off := t.Zone()
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		if _, prev := start.Add(-time.Second).Zone(); prev > off {
			if early := t.Add(-time.Duration(prev-off) * time.Second); sameWall(early, y, mo, d, h, m, s) {
				return early, true
			}
		}
	}
	return t, true
}

func sameWall(t time.Time, y int, mo time.Month, d, h, m, s int) bool {
	ty, tmo, td := t.Date()
	th, tm, ts := t.Clock()
	return ty == y && tmo == mo && td == d && th == h && tm == m && ts == s
}

func daysIn(y int, mo time.Month) int {
	return time.Date(y, mo+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func weekday(y int, mo time.Month, d int) time.Weekday {
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Weekday()
}

func nextMonth(y int, mo time.Month) (int, time.Month, int) {
	if mo == time.December {
		return y + 1, time.January, 1
	}
	return y, mo + 1, 1
}

func nextDay(y int, mo time.Month, d int) (int, time.Month, int) {
	if d < daysIn(y, mo) {
		return y, mo, d + 1
	}
	return nextMonth(y, mo)
}

// LoadLocation resolves a trigger's time zone: an IANA name, or "" for UTC.
// "Local" is refused because it would mean whatever zone the server
// happens to run in.
func LoadLocation(tz string) (*time.Location, error) {
	if tz == "" || tz == "UTC" {
		return time.UTC, nil
	}
	if tz == "Local" {
		return nil, &ParseError{Field: "timezone", Value: tz, Reason: "is not allowed; name an IANA zone such as Asia/Shanghai"}
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return nil, &ParseError{Field: "timezone", Value: tz, Reason: "is not a known IANA time zone"}
	}
	return loc, nil
}

// Preview returns up to n fire times of expr in time zone tz after from,
// each in tz; fewer when the expression stops firing. It lists only what
// the compiled schedule fires: nothing after LastCalendarYear, the end of
// the years Compile gives Temporal, though Quartz's own calendar goes on
// to MaxYear. It backs GET /api/v1/cron/preview.
func Preview(expr, tz string, from time.Time, n int) ([]time.Time, error) {
	if n < 1 || n > MaxPreview {
		return nil, &ParseError{Field: "count", Value: fmt.Sprint(n), Reason: fmt.Sprintf("out of range 1-%d", MaxPreview)}
	}
	e, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	loc, err := LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, 0, n)
	for t := from; len(out) < n; {
		next, ok := e.Next(t, loc)
		if !ok || next.In(loc).Year() > LastCalendarYear {
			break
		}
		out = append(out, next.In(loc))
		t = next
	}
	return out, nil
}
