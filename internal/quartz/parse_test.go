package quartz

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseErrorsNameTheField(t *testing.T) {
	cases := []struct {
		expr, field, want string
	}{
		{"", "expression", "expression: is empty"},
		{"* * * * *", "expression", "has 5 fields"},
		{"0 0 0 1 * ? 2027 x", "expression", "has 8 fields"},
		{"60 * * * * ?", "second", `second: "60" out of range 0-59`},
		{"a * * * * ?", "second", `second: "a" is not a number 0-59`},
		{"0 0 0 ? * moX", "day-of-week", `day-of-week: "moX" is not a day`},
		{"? * * * * ?", "second", "'?' is only allowed"},
		{"*/0 * * * * ?", "second", "step 0 out of range 1-59"},
		{"*/60 * * * * ?", "second", "step 60 out of range 1-59"},
		{"5/x * * * * ?", "second", "step that is not a number"},
		{"0 60 * * * ?", "minute", `minute: "60" out of range 0-59`},
		{"0 1- * * * ?", "minute", "missing a value"},
		{"0 0 24 * * ?", "hour", `hour: "24" out of range 0-23`},
		{"0 0 */24 * * ?", "hour", "step 24 out of range 1-23"},
		{"0 0 5W * * ?", "hour", "'W' is only allowed in day-of-month"},
		{"0 0 L * * ?", "hour", "'L' is only allowed in day-of-month and day-of-week"},
		{"0 0 0 0 * ?", "day-of-month", `day-of-month: "0" out of range 1-31`},
		{"0 0 0 32 * ?", "day-of-month", `day-of-month: "32" out of range 1-31`},
		{"0 0 0 1,,2 * ?", "day-of-month", "empty list item"},
		{"0 0 0 L-31 * ?", "day-of-month", "offset 31 out of range 0-30"},
		{"0 0 0 L-x * ?", "day-of-month", "after 'L-'"},
		{"0 0 0 1-5W * ?", "day-of-month", "'W' needs one day"},
		{"0 0 0 32W * ?", "day-of-month", `"32W" out of range 1-31`},
		{"0 0 0 5L * ?", "day-of-month", "'L' must be written L, L-n, LW or L-nW"},
		{"0 0 0 #3 * ?", "day-of-month", "'#' is only allowed in day-of-week"},
		{"0 0 0 ?,1 * MON", "day-of-month", "'?' must be the whole field"},
		{"0 0 0 1 13 ?", "month", `month: "13" out of range 1-12`},
		{"0 0 0 1 FOO ?", "month", `month: "FOO" is not a month 1-12 or JAN-DEC`},
		{"0 0 0 1 ? ?", "month", "'?' is only allowed"},
		{"0 0 0 ? * 8", "day-of-week", `day-of-week: "8" out of range 1-7`},
		{"0 0 0 ? * 0", "day-of-week", `day-of-week: "0" out of range 1-7`},
		{"0 0 0 ? * MOX", "day-of-week", `day-of-week: "MOX" is not a day 1-7 or SUN-SAT`},
		{"0 0 0 ? * 6#6", "day-of-week", "occurrence 1-5"},
		{"0 0 0 ? * 6#0", "day-of-week", "occurrence 1-5"},
		{"0 0 0 ? * 6#", "day-of-week", "occurrence 1-5"},
		{"0 0 0 ? * 8L", "day-of-week", `"8" out of range 1-7`},
		{"0 0 0 ? * 1-3#2", "day-of-week", "needs a single day"},
		{"0 0 0 ? * 6L,2", "day-of-week", "must be the only value"},
		{"0 0 0 ? * 6#3,2#1", "day-of-week", "must be the only value"},
		{"0 0 0 ? * L,1", "day-of-week", "must be the only value"},
		{"0 0 0 ? * */8", "day-of-week", "step 8 out of range 1-7"},
		{"0 0 0 1 * ? 1969", "year", `year: "1969" out of range 1970-2199`},
		{"0 0 0 1 * ? 2200", "year", `year: "2200" out of range 1970-2199`},
		{"0 0 0 1 * ? 2030-2020", "year", "range starts after it ends"},
		{"0 0 0 1 * ? 2027/0", "year", "step 0 out of range"},
		{"0 0 0 * * *", "day-of-month and day-of-week", "day-of-month and day-of-week: one of them must be '?'"},
		{"0 0 12 1 * MON", "day-of-month and day-of-week", "one of them must be '?'"},
		{"0 0 0 ? * ?", "day-of-month and day-of-week", "only one of them may be '?'"},
	}
	for _, c := range cases {
		_, err := Parse(c.expr)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want a *ParseError", c.expr, err)
			continue
		}
		if pe.Field != c.field {
			t.Errorf("Parse(%q): field %q, want %q (%v)", c.expr, pe.Field, c.field, err)
		}
		if msg := err.Error(); !strings.HasPrefix(msg, c.field+": ") || !strings.Contains(msg, c.want) {
			t.Errorf("Parse(%q) = %q, want it to start with %q and contain %q", c.expr, msg, c.field+": ", c.want)
		}
	}
}

func TestParseFieldValues(t *testing.T) {
	bits := func(vs ...int) uint64 {
		var b uint64
		for _, v := range vs {
			b |= 1 << v
		}
		return b
	}
	seq := func(lo, hi, step int) []int {
		var out []int
		for v := lo; v <= hi; v += step {
			out = append(out, v)
		}
		return out
	}
	wd := func(ds ...time.Weekday) uint8 {
		var b uint8
		for _, d := range ds {
			b |= 1 << d
		}
		return b
	}
	e := mustParse(t, "50-10 */15 22-2 28-3 NOV-FEB ? 2027-2031/2")
	if want := bits(append(seq(50, 59, 1), seq(0, 10, 1)...)...); e.second != want {
		t.Errorf("wrapped seconds = %b, want %b", e.second, want)
	}
	if want := bits(0, 15, 30, 45); e.minute != want {
		t.Errorf("*/15 minutes = %b, want %b", e.minute, want)
	}
	if want := bits(22, 23, 0, 1, 2); e.hour != want {
		t.Errorf("22-2 hours = %b, want %b", e.hour, want)
	}
	if want := bits(28, 29, 30, 31, 1, 2, 3); e.dom.days != want {
		t.Errorf("28-3 days = %b, want %b", e.dom.days, want)
	}
	if want := bits(11, 12, 1, 2); e.month != want {
		t.Errorf("NOV-FEB months = %b, want %b", e.month, want)
	}
	for y := MinYear; y <= MaxYear; y++ {
		if want := y == 2027 || y == 2029 || y == 2031; e.hasYear(y) != want {
			t.Errorf("2027-2031/2: year %d = %v", y, e.hasYear(y))
		}
	}
	if e.allYears {
		t.Error("explicit years flagged as all years")
	}

	dows := []struct {
		field string
		want  uint8
	}{
		{"FRI-MON", wd(time.Friday, time.Saturday, time.Sunday, time.Monday)},
		{"6-2", wd(time.Friday, time.Saturday, time.Sunday, time.Monday)},
		{"1-7/3", wd(time.Sunday, time.Wednesday, time.Saturday)},
		{"2/2", wd(time.Monday, time.Wednesday, time.Friday)},
		{"*/2", wd(time.Sunday, time.Tuesday, time.Thursday, time.Saturday)},
		{"L", wd(time.Saturday)},
		{"sun", wd(time.Sunday)},
		{"Monday,friday", wd(time.Monday, time.Friday)},
		{"*", allWeek},
	}
	for _, c := range dows {
		e := mustParse(t, "0 0 0 ? * "+c.field)
		if e.dow.days != c.want || e.dow.nth != 0 || e.dow.last {
			t.Errorf("day-of-week %q = %07b nth=%d last=%v, want %07b", c.field, e.dow.days, e.dow.nth, e.dow.last, c.want)
		}
	}
	if e := mustParse(t, "0 0 0 ? * FRI#3"); e.dow.days != wd(time.Friday) || e.dow.nth != 3 {
		t.Errorf("FRI#3 = %+v", e.dow)
	}
	if e := mustParse(t, "0 0 0 ? * 6L"); e.dow.days != wd(time.Friday) || !e.dow.last {
		t.Errorf("6L = %+v", e.dow)
	}
	if e := mustParse(t, "0 0 0 ? * FRIL"); e.dow.days != wd(time.Friday) || !e.dow.last {
		t.Errorf("FRIL = %+v", e.dow)
	}

	e = mustParse(t, "0 0 0 1,L,L-3,15W,LW,L-2W * ?")
	if *e.dom != (domSpec{days: bits(1), fromLast: bits(0, 3), nearest: bits(15), nearestFromLast: bits(0, 2)}) {
		t.Errorf("day-of-month list = %+v", *e.dom)
	}
	if e := mustParse(t, "/20 * * * * ?"); e.second != bits(0, 20, 40) {
		t.Errorf("Quartz's bare /20 = %b", e.second)
	}
	if e := mustParse(t, "\t0  0 12 ? * MON-FRI  "); e.String() != "0 0 12 ? * MON-FRI" {
		t.Errorf("String() = %q", e.String())
	}
	if e := mustParse(t, "0 0 0 1 * ?"); !e.allYears || !e.hasYear(MinYear) || !e.hasYear(MaxYear) {
		t.Error("an omitted year must mean every year 1970-2199")
	}
}

func TestCorpus(t *testing.T) {
	corpus := Corpus()
	if len(corpus) < 100 {
		t.Fatalf("corpus has %d expressions, want at least 100", len(corpus))
	}
	seen := map[string]bool{}
	for _, c := range corpus {
		if seen[c] {
			t.Errorf("duplicate %q", c)
		}
		seen[c] = true
		e, err := Parse(c)
		if err != nil {
			t.Errorf("Parse(%q): %v", c, err)
			continue
		}
		for _, tz := range CorpusZones() {
			if _, err := Compile(e, tz); err != nil {
				t.Errorf("Compile(%q, %s): %v", c, tz, err)
			}
		}
	}
	// Every feature must be in the corpus.
	features := []string{"/", "-", ",", "?", "L ", "L-", "W ", "LW", "#", "6L", "JAN", "MON", "FRI-MON", "NOV-FEB", "22-2", "? 20", "29 2"}
	for _, f := range features {
		found := false
		for _, c := range corpus {
			found = found || strings.Contains(c, f)
		}
		if !found {
			t.Errorf("no corpus expression uses %q", f)
		}
	}
}

func mustParse(t *testing.T, expr string) *Expr {
	t.Helper()
	e, err := Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return e
}
