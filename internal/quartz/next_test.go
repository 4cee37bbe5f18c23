package quartz

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fires returns the first n fire times after from, formatted in loc.
func fires(t *testing.T, expr string, loc *time.Location, from time.Time, n int) []string {
	t.Helper()
	e := mustParse(t, expr)
	var out []string
	for at := from; len(out) < n; {
		next, ok := e.Next(at, loc)
		if !ok {
			break
		}
		if !next.After(at) {
			t.Fatalf("%s: Next(%v) = %v, not after it", expr, at, next)
		}
		out = append(out, next.In(loc).Format("2006-01-02 15:04:05 MST"))
		at = next
	}
	return out
}

const noMore = "(no more)"

// Dates below were checked against a calendar by hand, not derived from
// this package.
func TestNextKnownDates(t *testing.T) {
	utc := time.UTC
	jan2026 := time.Date(2025, 12, 31, 23, 0, 0, 0, utc)
	days := func(year int, format string, days ...int) []string {
		var out []string
		for i, d := range days {
			out = append(out, fmt.Sprintf(format, year, i+1, d))
		}
		return out
	}
	cases := []struct {
		name, expr string
		loc        *time.Location
		from       time.Time
		want       []string // ending in noMore when the expression stops firing after them
	}{
		{"third Fridays of 2026", "0 15 10 ? * 6#3", utc, jan2026,
			days(2026, "%d-%02d-%02d 10:15:00 UTC", 16, 20, 20, 17, 15, 19, 17, 21, 18, 16, 20, 18)},
		{"last Fridays of 2026", "0 15 10 ? * 6L", utc, jan2026,
			days(2026, "%d-%02d-%02d 10:15:00 UTC", 30, 27, 27, 24, 29, 26, 31, 28, 25, 30, 27, 25)},
		{"15W: Sat 15 Aug -> Fri 14, Sun 15 Feb/Mar/Nov -> Mon 16", "0 0 0 15W * ?", utc, jan2026,
			days(2026, "%d-%02d-%02d 00:00:00 UTC", 15, 16, 16, 15, 15, 15, 15, 14, 15, 15, 16, 15)},
		{"1W: Sat 1 Aug -> Mon 3, never back into July", "0 0 0 1W * ?", utc, jan2026,
			days(2026, "%d-%02d-%02d 00:00:00 UTC", 1, 2, 2, 1, 1, 1, 1, 3, 1, 1, 2, 1)},
		{"LW: Sat 31 -> Fri 30, Sun 31 May -> Fri 29", "0 0 0 LW * ?", utc, jan2026,
			days(2026, "%d-%02d-%02d 00:00:00 UTC", 30, 27, 31, 30, 29, 30, 31, 31, 30, 30, 30, 31)},
		{"L", "0 15 10 L * ?", utc, jan2026,
			days(2026, "%d-%02d-%02d 10:15:00 UTC", 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)},
		{"L-2", "0 15 10 L-2 * ?", utc, jan2026,
			days(2026, "%d-%02d-%02d 10:15:00 UTC", 29, 26, 29, 28, 29, 28, 29, 29, 28, 29, 28, 29)},
		{"fifth Wednesdays", "0 0 9 ? * 4#5", utc, jan2026, []string{
			"2026-04-29 09:00:00 UTC", "2026-07-29 09:00:00 UTC", "2026-09-30 09:00:00 UTC", "2026-12-30 09:00:00 UTC"}},
		{"last day of February by year", "0 0 0 L 2 ? *", utc, jan2026, []string{
			"2026-02-28 00:00:00 UTC", "2027-02-28 00:00:00 UTC", "2028-02-29 00:00:00 UTC", "2029-02-28 00:00:00 UTC"}},
		{"2100 is not a leap year, 2000 is", "0 0 0 L 2 ? 2000,2100", time.UTC, time.Date(1999, 1, 1, 0, 0, 0, 0, utc), []string{
			"2000-02-29 00:00:00 UTC", "2100-02-28 00:00:00 UTC", noMore}},
		{"February 29th", "0 0 0 29 2 ? *", utc, jan2026, []string{
			"2028-02-29 00:00:00 UTC", "2032-02-29 00:00:00 UTC", "2036-02-29 00:00:00 UTC"}},
		{"31W: Sat 31 Jan -> 30, Sun 31 May -> 29, no 30-day months", "0 0 0 31W * ?", utc, jan2026, []string{
			"2026-01-30 00:00:00 UTC", "2026-03-31 00:00:00 UTC", "2026-05-29 00:00:00 UTC", "2026-07-31 00:00:00 UTC",
			"2026-08-31 00:00:00 UTC", "2026-10-30 00:00:00 UTC", "2026-12-31 00:00:00 UTC"}},
		{"L alone in day-of-week is Saturday", "0 0 8 ? * L", utc, jan2026, []string{
			"2026-01-03 08:00:00 UTC", "2026-01-10 08:00:00 UTC"}},
		{"Shanghai evening", "0 30 22 * * ?", zone(t, "Asia/Shanghai"), jan2026, []string{
			"2026-01-01 22:30:00 CST", "2026-01-02 22:30:00 CST"}},
		{"weekdays at noon", "0 0 12 ? * MON-FRI", utc, jan2026, []string{
			"2026-01-01 12:00:00 UTC", "2026-01-02 12:00:00 UTC", "2026-01-05 12:00:00 UTC"}},
		{"seconds step", "*/20 * * * * ?", utc, time.Date(2026, 1, 1, 0, 0, 0, 0, utc), []string{
			"2026-01-01 00:00:20 UTC", "2026-01-01 00:00:40 UTC", "2026-01-01 00:01:00 UTC"}},
		{"years run out", "0 0 0 1 1 ? 2027", utc, jan2026, []string{"2027-01-01 00:00:00 UTC", noMore}},
		{"Quartz's last year", "0 0 0 1 1 ?", utc, time.Date(2198, 6, 1, 0, 0, 0, 0, utc), []string{"2199-01-01 00:00:00 UTC", noMore}},
		{"April 31st never comes", "0 0 0 31 4 ?", utc, jan2026, []string{noMore}},
		{"February 30th never comes", "0 0 0 30 2 ?", utc, jan2026, []string{noMore}},
	}
	for _, c := range cases {
		got := fires(t, c.expr, c.loc, c.from, len(c.want))
		if len(c.want) > 0 && c.want[len(c.want)-1] == noMore && len(got) < len(c.want) {
			got = append(got, noMore)
		}
		if strings.Join(got, ", ") != strings.Join(c.want, ", ") {
			t.Errorf("%s: %q\n got %v\nwant %v", c.name, c.expr, got, c.want)
		}
	}
}

// America/New_York changes clocks on 2026-03-08 (02:00 EST -> 03:00 EDT) and
// 2026-11-01 (02:00 EDT -> 01:00 EST); Europe/Berlin on 2026-03-29
// (02:00 CET -> 03:00 CEST) and 2026-10-25 (03:00 CEST -> 02:00 CET).
func TestNextDST(t *testing.T) {
	ny, berlin := zone(t, "America/New_York"), zone(t, "Europe/Berlin")
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, expr string
		loc        *time.Location
		from       time.Time
		want       []string
	}{
		{"02:30 does not exist on the spring-forward day: skipped", "0 30 2 * * ?", ny, utc("2026-03-07T00:00:00Z"),
			[]string{"2026-03-07 02:30:00 EST", "2026-03-09 02:30:00 EDT"}},
		{"hourly across the gap", "0 30 * * * ?", ny, utc("2026-03-08T05:00:00Z"),
			[]string{"2026-03-08 00:30:00 EST", "2026-03-08 01:30:00 EST", "2026-03-08 03:30:00 EDT"}},
		{"every second across the gap", "* * * * * ?", ny, utc("2026-03-08T06:59:58Z"),
			[]string{"2026-03-08 01:59:59 EST", "2026-03-08 03:00:00 EDT"}},
		{"01:30 repeats on the fall-back day: first occurrence only", "0 30 1 * * ?", ny, utc("2026-10-31T00:00:00Z"),
			[]string{"2026-10-31 01:30:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-02 01:30:00 EST"}},
		{"half-hourly through the repeated hour", "0 */30 * * * ?", ny, utc("2026-11-01T04:45:00Z"),
			[]string{"2026-11-01 01:00:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-01 02:00:00 EST"}},
		{"from inside the repeated hour's second pass", "0 */15 * * * ?", ny, utc("2026-11-01T06:10:00Z"),
			[]string{"2026-11-01 02:00:00 EST"}},
		{"Berlin spring gap", "0 */30 * * * ?", berlin, utc("2026-03-29T00:15:00Z"),
			[]string{"2026-03-29 01:30:00 CET", "2026-03-29 03:00:00 CEST"}},
		{"Berlin repeated 02:xx fires in CEST only", "0 */30 * * * ?", berlin, utc("2026-10-24T23:45:00Z"),
			[]string{"2026-10-25 02:00:00 CEST", "2026-10-25 02:30:00 CEST", "2026-10-25 03:00:00 CET"}},
		{"Berlin daily 02:30 on the fall-back day", "0 30 2 * * ?", berlin, utc("2026-10-24T12:00:00Z"),
			[]string{"2026-10-25 02:30:00 CEST", "2026-10-26 02:30:00 CET"}},
	}
	for _, c := range cases {
		got := fires(t, c.expr, c.loc, c.from, len(c.want))
		if strings.Join(got, ", ") != strings.Join(c.want, ", ") {
			t.Errorf("%s: %q\n got %v\nwant %v", c.name, c.expr, got, c.want)
		}
	}

	e := mustParse(t, "0 30 1 * * ?")
	if !e.Matches(utc("2026-11-01T05:30:00Z"), ny) {
		t.Error("01:30 EDT on the fall-back day must match")
	}
	if e.Matches(utc("2026-11-01T06:30:00Z"), ny) {
		t.Error("01:30 EST, the repeat, must not match")
	}
	if e.Matches(utc("2026-11-02T06:30:00.5Z"), ny) {
		t.Error("a fractional second must not match")
	}
}

// Next must agree with a second-by-second scan of Matches through DST
// changes: the scan sees every instant, so a search that jumps wrongly
// over a gap or a repeated hour shows up.
func TestNextAgreesWithScan(t *testing.T) {
	exprs := []string{"0 */15 * * * ?", "*/20 * 1-3 * * ?", "0 30 2 * * ?", "0 0,30 1 * * ?", "0 * 2 ? * SUN", "30 59 1 * * ?", "0 0 3 L * ?"}
	windows := []struct {
		zone string
		from string
	}{
		{"America/New_York", "2026-03-08T04:00:00Z"},
		{"America/New_York", "2026-11-01T03:00:00Z"},
		{"Europe/Berlin", "2026-03-28T23:00:00Z"},
		{"Europe/Berlin", "2026-10-24T22:00:00Z"},
		{"Asia/Shanghai", "2026-02-28T16:00:00Z"},
	}
	compared := 0
	for _, w := range windows {
		loc := zone(t, w.zone)
		from, err := time.Parse(time.RFC3339, w.from)
		if err != nil {
			t.Fatal(err)
		}
		to := from.Add(6 * time.Hour)
		for _, expr := range exprs {
			e := mustParse(t, expr)
			var scan, next []time.Time
			for at := from.Add(time.Second); !at.After(to); at = at.Add(time.Second) {
				if e.Matches(at, loc) {
					scan = append(scan, at)
				}
			}
			for at := from; ; {
				n, ok := e.Next(at, loc)
				if !ok || n.After(to) {
					break
				}
				next = append(next, n.UTC())
				at = n
			}
			compared += len(scan)
			for i := range max(len(scan), len(next)) {
				if i >= len(scan) || i >= len(next) || !scan[i].Equal(next[i]) {
					t.Errorf("%s in %s from %s: %d scanned, %d from Next; first difference at #%d:\nscan %v\nnext %v",
						expr, w.zone, w.from, len(scan), len(next), i, scan[i:min(i+3, len(scan))], next[i:min(i+3, len(next))])
					break
				}
			}
		}
	}
	if compared < 1000 {
		t.Errorf("only %d fire times compared", compared)
	}
}

func TestPreview(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	got, err := Preview("0 0 9 ? * MON", "Asia/Shanghai", from, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2026-01-05T09:00:00+08:00", "2026-01-12T09:00:00+08:00", "2026-01-19T09:00:00+08:00"}
	for i := range want {
		if i >= len(got) || got[i].Format(time.RFC3339) != want[i] {
			t.Fatalf("Preview = %v, want %v", got, want)
		}
	}
	if got, err := Preview("0 0 0 1 1 ? 2027,2028", "", from, 5); err != nil || len(got) != 2 || got[0].Location() != time.UTC {
		t.Errorf("a sequence that ends: %v, %v", got, err)
	}
	// The compiled schedule stops at LastCalendarYear; so does the preview,
	// though Quartz's calendar would go on to 2199.
	late := time.Date(2098, 6, 1, 0, 0, 0, 0, time.UTC)
	if got, err := Preview("0 0 0 1 1 ?", "Asia/Shanghai", late, 10); err != nil || len(got) != 2 || got[1].Year() != LastCalendarYear {
		t.Errorf("preview past the compiled years: %v, %v", got, err)
	}
	for _, c := range []struct {
		expr, tz string
		n        int
		field    string
	}{
		{"0 0 9 ? * MON", "Mars/Olympus", 3, "timezone"},
		{"0 0 9 ? * MON", "Local", 3, "timezone"},
		{"0 0 9 ? * MON", "UTC", 0, "count"},
		{"0 0 9 ? * MON", "UTC", MaxPreview + 1, "count"},
		{"0 0 9 * * MON", "UTC", 3, "day-of-month and day-of-week"},
	} {
		_, err := Preview(c.expr, c.tz, from, c.n)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Field != c.field {
			t.Errorf("Preview(%q, %q, %d) = %v, want a %s error", c.expr, c.tz, c.n, err, c.field)
		}
	}
}
