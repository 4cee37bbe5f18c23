package quartz

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

// inRanges is Temporal's range semantics (service/worker/scheduler
// calendar.go): End below Start means Start alone, Step 0 means 1.
func inRanges(rs []client.ScheduleRange, v int) bool {
	for _, r := range rs {
		end, step := max(r.End, r.Start), max(r.Step, 1)
		for x := r.Start; x <= end; x += step {
			if x == v {
				return true
			}
		}
	}
	return false
}

// dateMatches applies one calendar's date fields as Temporal does, with the
// SDK's defaults for fields left nil (every day, month and weekday; an
// empty Year is every year).
func dateMatches(c client.ScheduleCalendarSpec, y int, mo time.Month, d int) bool {
	wd := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Weekday()
	return (c.Year == nil || inRanges(c.Year, y)) &&
		(c.Month == nil || inRanges(c.Month, int(mo))) &&
		(c.DayOfMonth == nil || inRanges(c.DayOfMonth, d)) &&
		(c.DayOfWeek == nil || inRanges(c.DayOfWeek, int(wd)))
}

func extraExprs() []string {
	return []string{
		"0 0 0 L-30W * ?", "0 0 0 L-27W * ?", "0 0 0 30W,1W * ?", "0 0 0 29W * ?", "0 0 0 L-1W 2 ?",
		"0 0 0 L-29 * ?", "0 0 0 1-31 * ?", "0 0 0 ? * 3#4", "0 0 0 ? * 3L", "0 0 0 L,15W,LW,L-5W * ? 2099-2100",
		"0 0 0 ? * 2#5 2000-2010", "0 0 0 1 1 ? 1990-2005", "0 0 0 28 2 ? 2000/4", "0 0 0 LW FEB ? 2001-2003",
	}
}

// The compiled calendars must select exactly the reference's days, checked
// day by day over all of Temporal's calendar years.
func TestCompileDaysExhaustive(t *testing.T) {
	for _, expr := range append(Corpus(), extraExprs()...) {
		e := mustParse(t, expr)
		spec, err := Compile(e, "UTC")
		if err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
			continue
		}
		bad := 0
		for day := time.Date(FirstCalendarYear, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() <= LastCalendarYear; day = day.AddDate(0, 0, 1) {
			y, mo, d := day.Date()
			want := e.hasYear(y) && e.month&(1<<mo) != 0 && e.dayMatches(y, mo, d)
			got := slices.ContainsFunc(spec.Calendars, func(c client.ScheduleCalendarSpec) bool { return dateMatches(c, y, mo, d) })
			if got != want {
				if bad++; bad <= 3 {
					t.Errorf("%q on %s (%s): compiled %v, reference %v", expr, day.Format("2006-01-02"), day.Weekday(), got, want)
				}
			}
		}
		if bad > 3 {
			t.Errorf("%q: %d days differ in all", expr, bad)
		}
	}
}

// The time-of-day fields carry over unchanged and every range is one the
// Temporal server accepts.
func TestCompileFieldsAndLimits(t *testing.T) {
	set := func(rs []client.ScheduleRange, lo, hi int) uint64 {
		var bits uint64
		for v := lo; v <= hi; v++ {
			if inRanges(rs, v) {
				bits |= 1 << v
			}
		}
		return bits
	}
	check := func(expr, field string, rs []client.ScheduleRange, lo, hi int) {
		for _, r := range rs {
			if r.Start < lo || r.Start > hi || r.End < r.Start || r.End > hi || r.Step < 1 {
				t.Errorf("%q: %s range %+v outside Temporal's %d-%d", expr, field, r, lo, hi)
			}
		}
	}
	for _, expr := range append(Corpus(), extraExprs()...) {
		e := mustParse(t, expr)
		spec, err := Compile(e, "Europe/Berlin")
		if err != nil {
			t.Fatalf("Compile(%q): %v", expr, err)
		}
		if spec.TimeZoneName != "Europe/Berlin" {
			t.Errorf("%q: zone %q", expr, spec.TimeZoneName)
		}
		if len(spec.Calendars) == 0 {
			t.Errorf("%q: no calendars", expr)
		}
		for _, c := range spec.Calendars {
			if set(c.Second, 0, 59) != e.second || set(c.Minute, 0, 59) != e.minute || set(c.Hour, 0, 23) != e.hour {
				t.Errorf("%q: time of day changed: %+v %+v %+v", expr, c.Second, c.Minute, c.Hour)
			}
			check(expr, "second", c.Second, 0, 59)
			check(expr, "minute", c.Minute, 0, 59)
			check(expr, "hour", c.Hour, 0, 23)
			check(expr, "day of month", c.DayOfMonth, 1, 31)
			check(expr, "month", c.Month, 1, 12)
			check(expr, "year", c.Year, FirstCalendarYear, LastCalendarYear)
			check(expr, "day of week", c.DayOfWeek, 0, 6)
			if len(c.Comment) > 200 {
				t.Errorf("%q: comment longer than Temporal's 200", expr)
			}
			for _, f := range [][]client.ScheduleRange{c.Second, c.Minute, c.Hour, c.DayOfMonth, c.Month, c.DayOfWeek} {
				// nil would let the SDK substitute its own default.
				if f == nil {
					t.Errorf("%q: a calendar leaves a field nil: %+v", expr, c)
				}
			}
		}
	}
}

func TestCompileShapes(t *testing.T) {
	r := func(start, end, step int) client.ScheduleRange {
		return client.ScheduleRange{Start: start, End: end, Step: step}
	}
	one := func(v int) []client.ScheduleRange { return []client.ScheduleRange{r(v, v, 1)} }

	spec := compile(t, "0 15 10 ? * 6#3", "Asia/Shanghai")
	want := client.ScheduleCalendarSpec{
		Second: one(0), Minute: one(15), Hour: one(10), DayOfMonth: []client.ScheduleRange{r(15, 21, 1)},
		Month: []client.ScheduleRange{r(1, 12, 1)}, DayOfWeek: one(5), Comment: "0 15 10 ? * 6#3",
	}
	if len(spec.Calendars) != 1 || fmt.Sprint(spec.Calendars[0]) != fmt.Sprint(want) || spec.TimeZoneName != "Asia/Shanghai" {
		t.Errorf("6#3 = %+v", spec)
	}

	spec = compile(t, "*/15 0/20 */2 ? * MON-FRI", "")
	c := spec.Calendars[0]
	if fmt.Sprint(c.Second, c.Minute, c.Hour, c.DayOfWeek, spec.TimeZoneName) != fmt.Sprint(
		[]client.ScheduleRange{r(0, 45, 15)}, []client.ScheduleRange{r(0, 40, 20)}, []client.ScheduleRange{r(0, 22, 2)},
		[]client.ScheduleRange{r(1, 5, 1)}, "UTC") {
		t.Errorf("steps = %+v in %q", c, spec.TimeZoneName)
	}

	// February's last day needs the leap years spelt out; the other months
	// do not.
	spec = compile(t, "0 0 0 L * ?", "UTC")
	var feb29, feb28 []client.ScheduleRange
	for _, c := range spec.Calendars {
		if inRanges(c.Month, 2) {
			switch {
			case inRanges(c.DayOfMonth, 29):
				feb29 = c.Year
			case inRanges(c.DayOfMonth, 28):
				feb28 = c.Year
			}
		} else if c.Year != nil {
			t.Errorf("L outside February restricts years: %+v", c)
		}
	}
	if fmt.Sprint(feb29) != fmt.Sprint([]client.ScheduleRange{r(2000, 2096, 4)}) {
		t.Errorf("Feb 29 years = %+v", feb29)
	}
	if !inRanges(feb28, 2100) || inRanges(feb28, 2000) || !inRanges(feb28, 2001) || inRanges(feb28, 2096) {
		t.Errorf("Feb 28 years = %+v", feb28)
	}

	// Years outside Temporal's range are dropped.
	spec = compile(t, "0 0 0 1 1 ? 1990-2005", "UTC")
	if fmt.Sprint(spec.Calendars[0].Year) != fmt.Sprint([]client.ScheduleRange{r(2000, 2005, 1)}) {
		t.Errorf("1990-2005 = %+v", spec.Calendars[0].Year)
	}
}

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		expr, tz, field string
	}{
		{"0 0 0 1 1 ? 1990-1999", "UTC", "year"},
		{"0 0 0 1 1 ? 2101-2199", "UTC", "year"},
		{"0 0 0 31 4 ?", "UTC", "expression"},
		{"0 0 0 29 2 ? 2001-2003", "UTC", "expression"},
		{"0 0 0 1 1 ?", "Nowhere/Land", "timezone"},
	}
	for _, c := range cases {
		_, err := Compile(mustParse(t, c.expr), c.tz)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("Compile(%q, %q) = %v, want a %s error", c.expr, c.tz, err, c.field)
		}
	}
	if _, err := Compile(nil, "UTC"); err == nil {
		t.Error("Compile(nil) succeeded")
	}
}

func TestEncodeRanges(t *testing.T) {
	cases := map[string][]int{
		"[{0 45 15}]":         {0, 15, 30, 45},
		"[{5 5 1} {10 12 1}]": {5, 10, 11, 12},
		"[{1 7 2} {8 12 2}]":  {1, 3, 5, 7, 8, 10, 12},
		"[{2001 2099 2} {2002 2098 4} {2100 2100 1}]": commonYearsIn(2000, 2100),
	}
	for want, vals := range cases {
		if got := fmt.Sprint(encodeRanges(vals)); got != want {
			t.Errorf("encodeRanges(%v) = %s, want %s", vals, got, want)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var vals []int
		for v := 0; v < 120; v++ {
			if rng.IntN(3) == 0 {
				vals = append(vals, v)
			}
		}
		rs := encodeRanges(vals)
		for v := 0; v < 120; v++ {
			if inRanges(rs, v) != slices.Contains(vals, v) {
				t.Fatalf("encodeRanges(%v) = %v: wrong at %d", vals, rs, v)
			}
		}
	}
}

func commonYearsIn(lo, hi int) []int {
	var out []int
	for y := lo; y <= hi; y++ {
		if !isLeap(y) {
			out = append(out, y)
		}
	}
	return out
}

func compile(t *testing.T, expr, tz string) *client.ScheduleSpec {
	t.Helper()
	spec, err := Compile(mustParse(t, expr), tz)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return spec
}
