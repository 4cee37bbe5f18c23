package bizdate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Layout is how business dates are written.
const Layout = "2006-01-02"

// MaxDates bounds one backfill: ten years of days.
const MaxDates = 3660

// Parse checks a business date.
func Parse(s string) (time.Time, error) {
	t, err := time.Parse(Layout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bizdate %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// Step is a distance between dates: days, weeks or months.
type Step struct {
	N    int
	Unit byte // 'd', 'w' or 'm'
}

// ParseStep reads "1d", "7d", "1w", "1m" (empty means one day).
func ParseStep(s string) (Step, error) {
	if s == "" {
		return Step{1, 'd'}, nil
	}
	s = strings.ToLower(strings.TrimSpace(s))
	unit := s[len(s)-1]
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 1 || (unit != 'd' && unit != 'w' && unit != 'm') {
		return Step{}, fmt.Errorf("step %q: want a positive number of days, weeks or months, like 1d, 1w or 1m", s)
	}
	return Step{n, unit}, nil
}

func (s Step) add(t time.Time, k int) time.Time {
	switch s.Unit {
	case 'w':
		return t.AddDate(0, 0, 7*s.N*k)
	case 'm':
		// Month steps keep the day of month, clamped to the month's end
		// (Jan 31 + 1m = Feb 28/29), as operators expect of month-end jobs.
		y, m, d := t.Date()
		target := time.Date(y, m+time.Month(s.N*k), 1, 0, 0, 0, 0, time.UTC)
		last := target.AddDate(0, 1, -1).Day()
		return time.Date(target.Year(), target.Month(), min(d, last), 0, 0, 0, 0, time.UTC)
	default:
		return t.AddDate(0, 0, s.N*k)
	}
}

// Range lists the dates from..to (inclusive) every step, ascending or,
// with descending, newest first.
func Range(from, to, step string, descending bool) ([]string, error) {
	a, err := Parse(from)
	if err != nil {
		return nil, err
	}
	b, err := Parse(to)
	if err != nil {
		return nil, err
	}
	if b.Before(a) {
		return nil, fmt.Errorf("bizdate range %s..%s: the end is before the start", from, to)
	}
	st, err := ParseStep(step)
	if err != nil {
		return nil, err
	}
	var out []string
	for k := 0; ; k++ {
		d := st.add(a, k)
		if d.After(b) {
			break
		}
		if len(out) == MaxDates {
			return nil, fmt.Errorf("bizdate range %s..%s every %s has more than %d dates", from, to, step, MaxDates)
		}
		out = append(out, d.Format(Layout))
	}
	if descending {
		slices.Reverse(out)
	}
	return out, nil
}
