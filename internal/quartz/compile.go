package quartz

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
)

// Temporal's calendar years: the server rejects a Year range outside them
// and stops computing fire times after LastCalendarYear.
const (
	FirstCalendarYear = 2000
	LastCalendarYear  = 2100
)

const (
	allWeek  uint8 = 1<<7 - 1
	weekdays uint8 = allWeek &^ (1<<time.Sunday | 1<<time.Saturday)
	monday   uint8 = 1 << time.Monday
	friday   uint8 = 1 << time.Friday
)

// Compile turns e into a Temporal schedule spec in time zone tz ("" is
// UTC): a list of calendars whose union is exactly e's fire times for the
// years 2000-2100, Temporal's whole calendar range, so the spec never needs
// refreshing. The seconds, minutes, hours and months carry over as they
// are; the day fields become one calendar per (days, weekdays) pair:
//
//   - plain days or weekdays: one calendar;
//   - n#k: weekday n and days 7k-6..7k;
//   - nL: weekday n and the last seven days, per month length;
//   - L and L-n: the day counted from each month length's end;
//   - dW, LW, L-nW (base day d): day d on Monday-Friday, or day d-1 on a
//     Friday (d was a Saturday), or day d+1 on a Monday (d was a Sunday);
//     except that a Saturday 1st gives day 3 on a Monday and a Sunday last
//     day gives day d-2 on a Friday, as W never leaves the month. Each
//     calendar pins a weekday, so no list of years is needed.
//
// February's length depends on the year, so a day that differs between 28
// and 29 day Februaries gets calendars with explicit leap and non-leap
// year lists. Years of e outside 2000-2100 are dropped; an expression with
// none left, or that never fires in them, is an error.
func Compile(e *Expr, tz string) (*client.ScheduleSpec, error) {
	if e == nil {
		return nil, fmt.Errorf("compile: nil expression")
	}
	loc, err := LoadLocation(tz)
	if err != nil {
		return nil, err
	}
	var years []int
	for y := FirstCalendarYear; y <= LastCalendarYear; y++ {
		if e.hasYear(y) {
			years = append(years, y)
		}
	}
	if len(years) == 0 {
		return nil, &ParseError{Field: "year", Reason: fmt.Sprintf(
			"has no year in %d-%d, the years Temporal schedules cover", FirstCalendarYear, LastCalendarYear)}
	}
	if first, ok := e.Next(time.Date(FirstCalendarYear, 1, 1, 0, 0, 0, 0, loc).Add(-time.Second), loc); !ok || first.In(loc).Year() > LastCalendarYear {
		return nil, &ParseError{Field: "expression", Value: e.text, Reason: fmt.Sprintf(
			"never fires in %d-%d", FirstCalendarYear, LastCalendarYear)}
	}
	yearRanges := map[yearClass][]client.ScheduleRange{}
	for _, c := range []yearClass{anyYear, leapYears, commonYears} {
		var ys []int
		for _, y := range years {
			if c == anyYear || (c == leapYears) == isLeap(y) {
				ys = append(ys, y)
			}
		}
		if c == anyYear && e.allYears {
			yearRanges[c] = nil // no Year ranges means every year
		} else if len(ys) > 0 {
			yearRanges[c] = encodeRanges(ys)
		}
	}

	parts := e.dayParts(yearRanges)
	spec := &client.ScheduleSpec{TimeZoneName: loc.String()}
	for i, p := range parts {
		comment := e.text
		if len(parts) > 1 {
			comment = fmt.Sprintf("%s [%d/%d]", e.text, i+1, len(parts))
		}
		if len(comment) > 200 { // Temporal's limit
			comment = comment[:200]
		}
		spec.Calendars = append(spec.Calendars, client.ScheduleCalendarSpec{
			Second:     encodeBits(e.second, 0, 59),
			Minute:     encodeBits(e.minute, 0, 59),
			Hour:       encodeBits(e.hour, 0, 23),
			DayOfMonth: encodeBits(p.days, 1, 31),
			Month:      encodeBits(p.months, 1, 12),
			Year:       yearRanges[p.years],
			DayOfWeek:  encodeBits(uint64(p.weekdays), 0, 6),
			Comment:    comment,
		})
	}
	return spec, nil
}

type yearClass int

const (
	anyYear yearClass = iota
	leapYears
	commonYears
)

// dayPart is one calendar's date fields: the dates in months x years whose
// day is in days and whose weekday is in weekdays.
type dayPart struct {
	months   uint64
	years    yearClass
	days     uint64
	weekdays uint8
}

// monthKind groups the months in which the day fields select the same days.
type monthKind struct {
	months uint64
	years  yearClass
	length int
}

func (e *Expr) dayParts(yearRanges map[yearClass][]client.ScheduleRange) []dayPart {
	const (
		long  = 1<<1 | 1<<3 | 1<<5 | 1<<7 | 1<<8 | 1<<10 | 1<<12
		short = 1<<4 | 1<<6 | 1<<9 | 1<<11
		feb   = 1 << 2
	)
	kinds := []monthKind{
		{months: e.month & long, years: anyYear, length: 31},
		{months: e.month & short, years: anyYear, length: 30},
	}
	_, leap := yearRanges[leapYears]
	_, common := yearRanges[commonYears]
	switch {
	case leap && common:
		kinds = append(kinds,
			monthKind{months: e.month & feb, years: leapYears, length: 29},
			monthKind{months: e.month & feb, years: commonYears, length: 28})
	case leap:
		kinds = append(kinds, monthKind{months: e.month & feb, years: anyYear, length: 29})
	default:
		kinds = append(kinds, monthKind{months: e.month & feb, years: anyYear, length: 28})
	}
	type key struct {
		years    yearClass
		days     uint64
		weekdays uint8
	}
	merged := map[key]uint64{} // -> months
	var febLeap, febCommon map[uint8]uint64
	for _, k := range kinds {
		if k.months == 0 {
			continue
		}
		clauses := e.dayClauses(k.length)
		switch k.years {
		case leapYears:
			febLeap = clauses
			continue
		case commonYears:
			febCommon = clauses
			continue
		}
		for wd, days := range clauses {
			merged[key{k.years, days, wd}] |= k.months
		}
	}
	// February calendars need year lists only where leap and common years
	// really differ.
	for wd, days := range febLeap {
		if febCommon[wd] == days {
			merged[key{anyYear, days, wd}] |= feb
			delete(febCommon, wd)
			continue
		}
		merged[key{leapYears, days, wd}] |= feb
	}
	for wd, days := range febCommon {
		merged[key{commonYears, days, wd}] |= feb
	}
	parts := make([]dayPart, 0, len(merged))
	for k, months := range merged {
		if k.days == 0 {
			continue
		}
		parts = append(parts, dayPart{months: months, years: k.years, days: k.days, weekdays: k.weekdays})
	}
	slices.SortFunc(parts, func(a, b dayPart) int {
		return cmp.Or(cmp.Compare(a.years, b.years), cmp.Compare(a.months, b.months),
			cmp.Compare(a.weekdays, b.weekdays), cmp.Compare(a.days, b.days))
	})
	return parts
}

// dayClauses returns, for a month of the given length, weekday set -> days:
// a date matches when its day is in the days of its weekday's entry. Days
// past the month's end may appear; they never occur, which lets months of
// different lengths share a calendar.
func (e *Expr) dayClauses(length int) map[uint8]uint64 {
	out := map[uint8]uint64{}
	add := func(days uint64, wd uint8) {
		if days != 0 {
			out[wd] |= days
		}
	}
	if s := e.dow; s != nil {
		switch {
		case s.nth > 0:
			add(dayRange(7*s.nth-6, 7*s.nth), s.days)
		case s.last:
			add(dayRange(length-6, length), s.days)
		default:
			add(dayRange(1, 31), s.days)
		}
		return out
	}
	s := e.dom
	add(s.days, allWeek)
	nearest := func(b int) {
		add(1<<b, weekdays)
		if b == 1 {
			add(1<<3, monday) // the 1st was a Saturday
		} else {
			add(1<<(b-1), friday) // b was a Saturday
		}
		if b == length {
			add(1<<(b-2), friday) // the last day was a Sunday
		} else {
			add(1<<(b+1), monday) // b was a Sunday
		}
	}
	for n := 0; n <= maxLastOffset; n++ {
		if length-n < 1 {
			break
		}
		if s.fromLast&(1<<n) != 0 {
			add(1<<(length-n), allWeek)
		}
		if s.nearestFromLast&(1<<n) != 0 {
			nearest(length - n)
		}
	}
	for b := 1; b <= length; b++ {
		if s.nearest&(1<<b) != 0 {
			nearest(b)
		}
	}
	return out
}

// dayRange is the bit set of days lo..hi clipped to 1..31.
func dayRange(lo, hi int) uint64 {
	var bits uint64
	for d := max(lo, 1); d <= min(hi, 31); d++ {
		bits |= 1 << d
	}
	return bits
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func encodeBits(bits uint64, lo, hi int) []client.ScheduleRange {
	var vals []int
	for v := lo; v <= hi; v++ {
		if bits&(1<<v) != 0 {
			vals = append(vals, v)
		}
	}
	return encodeRanges(vals)
}

// encodeRanges covers sorted values with few ranges: from each value not yet
// covered it takes the longest run of consecutive values, or a stepped
// progression of at least three values when that is longer ("*/15", leap
// years). Ranges may overlap; Temporal ORs them.
func encodeRanges(vals []int) []client.ScheduleRange {
	if len(vals) == 0 {
		return nil
	}
	in := map[int]bool{}
	for _, v := range vals {
		in[v] = true
	}
	last := vals[len(vals)-1]
	covered := map[int]bool{}
	var out []client.ScheduleRange
	for _, v := range vals {
		if covered[v] {
			continue
		}
		bestStep, bestLen := 1, 1
		for step := 1; v+step <= last; step++ {
			n := 1
			for x := v + step; in[x]; x += step {
				n++
			}
			if n > bestLen && (step == 1 || n >= 3) {
				bestStep, bestLen = step, n
			}
		}
		end := v + (bestLen-1)*bestStep
		for x := v; x <= end; x += bestStep {
			covered[x] = true
		}
		out = append(out, client.ScheduleRange{Start: v, End: end, Step: bestStep})
	}
	return out
}
