package quartz

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseError says which part of a trigger is wrong and why. Field is one of
// second, minute, hour, day-of-month, month, day-of-week, year, expression,
// "day-of-month and day-of-week", timezone, count (of a preview), interval
// or phase.
type ParseError struct {
	Field  string
	Value  string // the offending text; empty when no single piece of text is to blame
	Reason string
}

func (e *ParseError) Error() string {
	if e.Value == "" {
		return e.Field + ": " + e.Reason
	}
	return fmt.Sprintf("%s: %q %s", e.Field, e.Value, e.Reason)
}

// Quartz's year range; beyond it CronExpression gives up too.
const (
	MinYear = 1970
	MaxYear = 2199
)

// Expr is a parsed Quartz cron expression. The zero value is not usable;
// build one with Parse.
type Expr struct {
	text     string
	second   uint64 // bit s
	minute   uint64 // bit m
	hour     uint64 // bit h
	month    uint64 // bit m, 1-12
	years    [4]uint64
	allYears bool     // the year field was omitted or '*'
	dom      *domSpec // nil when day-of-month is '?'
	dow      *dowSpec // nil when day-of-week is '?'
}

// domSpec is a day-of-month field. Every kind of item may appear in one
// comma list; the days it selects are the union of the items' days.
type domSpec struct {
	days            uint64 // bit d: day d
	fromLast        uint64 // bit n: L-n (n = 0 is L)
	nearest         uint64 // bit d: dW
	nearestFromLast uint64 // bit n: L-nW (n = 0 is LW)
}

// dowSpec is a day-of-week field. nth and last each come with exactly one
// weekday in days, as Quartz allows nothing else next to them.
type dowSpec struct {
	days uint8 // bit w: time.Weekday w (Quartz's 1=SUN is bit 0)
	nth  int   // k of "n#k", 0 when absent
	last bool  // "nL"
}

// String returns the expression as it was given to Parse.
func (e *Expr) String() string { return e.text }

type field struct {
	name     string
	min, max int
	maxStep  int            // Quartz rejects larger increments
	names    map[string]int // month and day names, upper case
	kind     string         // what a value is, for messages
}

var (
	secondField = field{name: "second", min: 0, max: 59, maxStep: 59, kind: "a number 0-59"}
	minuteField = field{name: "minute", min: 0, max: 59, maxStep: 59, kind: "a number 0-59"}
	hourField   = field{name: "hour", min: 0, max: 23, maxStep: 23, kind: "a number 0-23"}
	domField    = field{name: "day-of-month", min: 1, max: 31, maxStep: 31, kind: "a day 1-31"}
	monthField  = field{name: "month", min: 1, max: 12, maxStep: 12, names: monthNames, kind: "a month 1-12 or JAN-DEC"}
	dowField    = field{name: "day-of-week", min: 1, max: 7, maxStep: 7, names: dayNames, kind: "a day 1-7 or SUN-SAT"}
	yearField   = field{name: "year", min: MinYear, max: MaxYear, maxStep: MaxYear - MinYear, kind: "a year 1970-2199"}
)

var monthNames = func() map[string]int {
	m := map[string]int{}
	for i := time.January; i <= time.December; i++ {
		full := strings.ToUpper(i.String())
		m[full] = int(i)
		m[full[:3]] = int(i)
	}
	return m
}()

// Quartz numbers days 1=SUN .. 7=SAT.
var dayNames = func() map[string]int {
	m := map[string]int{}
	for d := time.Sunday; d <= time.Saturday; d++ {
		full := strings.ToUpper(d.String())
		m[full] = int(d) + 1
		m[full[:3]] = int(d) + 1
	}
	return m
}()

// Parse parses a Quartz cron expression: second, minute, hour,
// day-of-month, month, day-of-week and an optional year, separated by
// blanks. Names and letters are case-insensitive.
func Parse(expr string) (*Expr, error) {
	parts := strings.Fields(expr)
	if len(parts) == 0 {
		return nil, &ParseError{Field: "expression", Reason: "is empty"}
	}
	if len(parts) != 6 && len(parts) != 7 {
		return nil, &ParseError{Field: "expression", Value: expr, Reason: fmt.Sprintf(
			"has %d fields; want 6 or 7: second minute hour day-of-month month day-of-week [year]", len(parts))}
	}
	up := make([]string, len(parts))
	for i, p := range parts {
		up[i] = asciiUpper(p)
	}
	e := &Expr{text: strings.Join(parts, " ")}
	fields := []func(string) error{
		func(s string) (err error) { e.second, err = parseBits(secondField, s); return err },
		func(s string) (err error) { e.minute, err = parseBits(minuteField, s); return err },
		func(s string) (err error) { e.hour, err = parseBits(hourField, s); return err },
		func(s string) (err error) { e.dom, err = parseDayOfMonth(s); return err },
		func(s string) (err error) { e.month, err = parseBits(monthField, s); return err },
		func(s string) (err error) { e.dow, err = parseDayOfWeek(s); return err },
		e.parseYears,
	}
	if len(parts) == 6 {
		parts, up = append(parts, "*"), append(up, "*")
	}
	for i, parse := range fields {
		if err := parse(up[i]); err != nil {
			return nil, originalCase(err, parts[i], up[i])
		}
	}
	switch {
	case e.dom == nil && e.dow == nil:
		return nil, &ParseError{Field: "day-of-month and day-of-week", Reason: "only one of them may be '?'"}
	case e.dom != nil && e.dow != nil:
		// Quartz never implemented a day-of-month AND day-of-week match.
		return nil, &ParseError{Field: "day-of-month and day-of-week", Reason: "one of them must be '?'"}
	}
	return e, nil
}

// originalCase makes an error quote what the user wrote rather than the
// upper-case text the field was parsed from.
func originalCase(err error, orig, up string) error {
	var pe *ParseError
	if errors.As(err, &pe) && pe.Value != "" {
		if j := strings.Index(up, pe.Value); j >= 0 {
			pe.Value = orig[j : j+len(pe.Value)]
		}
	}
	return err
}

func asciiUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func (e *Expr) parseYears(text string) error {
	if text == "*" {
		e.allYears = true
		for y := MinYear; y <= MaxYear; y++ {
			e.setYear(y)
		}
		return nil
	}
	vals, err := parseList(yearField, text)
	if err != nil {
		return err
	}
	for _, y := range vals {
		e.setYear(y)
	}
	return nil
}

func (e *Expr) setYear(y int) {
	i := y - MinYear
	e.years[i/64] |= 1 << (i % 64)
}

func (e *Expr) hasYear(y int) bool {
	if y < MinYear || y > MaxYear {
		return false
	}
	i := y - MinYear
	return e.years[i/64]&(1<<(i%64)) != 0
}

func parseBits(f field, text string) (uint64, error) {
	vals, err := parseList(f, text)
	if err != nil {
		return 0, err
	}
	var bits uint64
	for _, v := range vals {
		bits |= 1 << v
	}
	return bits, nil
}

// parseList parses a comma list of plain items: *, values, ranges and steps.
func parseList(f field, text string) ([]int, error) {
	if strings.Contains(text, "?") {
		return nil, &ParseError{Field: f.name, Value: text, Reason: "'?' is only allowed as the whole day-of-month or day-of-week field"}
	}
	var out []int
	for item := range strings.SplitSeq(text, ",") {
		vals, err := parseItem(f, item)
		if err != nil {
			return nil, err
		}
		out = append(out, vals...)
	}
	return out, nil
}

// parseItem parses "*", "v", "a-b", "a/n", "*/n", "a-b/n" and Quartz's
// "/n" (same as "*/n"). A range whose end is below its start wraps around
// the field, as in Quartz ("22-2" hours, "FRI-MON").
func parseItem(f field, item string) ([]int, error) {
	if item == "" {
		return nil, &ParseError{Field: f.name, Reason: "has an empty list item"}
	}
	base, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		n, ok := number(stepText)
		if !ok {
			return nil, &ParseError{Field: f.name, Value: item, Reason: "has a step that is not a number"}
		}
		if n < 1 || n > f.maxStep {
			return nil, &ParseError{Field: f.name, Value: item, Reason: fmt.Sprintf("step %d out of range 1-%d", n, f.maxStep)}
		}
		step = n
	}
	var lo, hi int
	switch {
	case base == "*" || (base == "" && hasStep):
		lo, hi = f.min, f.max
	default:
		a, b, isRange := strings.Cut(base, "-")
		var err error
		if lo, err = f.value(a, item); err != nil {
			return nil, err
		}
		switch {
		case isRange:
			if hi, err = f.value(b, item); err != nil {
				return nil, err
			}
		case hasStep:
			hi = f.max
		default:
			hi = lo
		}
	}
	span := f.max - f.min + 1
	end := hi
	if hi < lo {
		if f.name == yearField.name {
			return nil, &ParseError{Field: f.name, Value: item, Reason: "range starts after it ends"}
		}
		end = hi + span
	}
	var out []int
	for i := lo; i <= end; i += step {
		out = append(out, f.min+(i-f.min)%span)
	}
	return out, nil
}

// value parses one number or name; item is the list item it came from.
func (f field) value(s, item string) (int, error) {
	if n, ok := number(s); ok {
		if n < f.min || n > f.max {
			return 0, &ParseError{Field: f.name, Value: s, Reason: fmt.Sprintf("out of range %d-%d", f.min, f.max)}
		}
		return n, nil
	}
	if v, ok := f.names[s]; ok {
		return v, nil
	}
	if s == "" {
		return 0, &ParseError{Field: f.name, Value: item, Reason: "is missing a value before or after '-'"}
	}
	return 0, &ParseError{Field: f.name, Value: s, Reason: "is not " + f.kind + specialHint(f, s)}
}

// specialHint explains a letter that is legal elsewhere, the commonest
// mistake with Quartz's special characters.
func specialHint(f field, s string) string {
	switch {
	case strings.Contains(s, "#") && f.name != dowField.name:
		return " ('#' is only allowed in day-of-week)"
	case strings.HasSuffix(s, "W") && f.name != domField.name:
		return " ('W' is only allowed in day-of-month)"
	case strings.Contains(s, "L") && f.name != domField.name && f.name != dowField.name:
		return " ('L' is only allowed in day-of-month and day-of-week)"
	}
	return ""
}

// number parses a non-empty run of ASCII digits.
func number(s string) (int, bool) {
	if s == "" || len(s) > 6 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

// Quartz caps the offset in L-n at 30.
const maxLastOffset = 30

func parseDayOfMonth(text string) (*domSpec, error) {
	if text == "?" {
		return nil, nil
	}
	f := domField
	s := &domSpec{}
	for item := range strings.SplitSeq(text, ",") {
		switch {
		case item == "?":
			return nil, &ParseError{Field: f.name, Value: text, Reason: "'?' must be the whole field"}
		case item == "L":
			s.fromLast |= 1
		case item == "LW":
			s.nearestFromLast |= 1
		case strings.HasPrefix(item, "L-"):
			rest, w := strings.CutSuffix(item[2:], "W")
			n, ok := number(rest)
			if !ok {
				return nil, &ParseError{Field: f.name, Value: item, Reason: "needs a number of days after 'L-', e.g. L-3"}
			}
			if n > maxLastOffset {
				return nil, &ParseError{Field: f.name, Value: item, Reason: fmt.Sprintf("offset %d out of range 0-%d", n, maxLastOffset)}
			}
			if w {
				s.nearestFromLast |= 1 << n
			} else {
				s.fromLast |= 1 << n
			}
		case strings.HasSuffix(item, "W"):
			n, ok := number(item[:len(item)-1])
			if !ok {
				return nil, &ParseError{Field: f.name, Value: item, Reason: "'W' needs one day before it, e.g. 15W (no ranges, steps or names)"}
			}
			if n < f.min || n > f.max {
				return nil, &ParseError{Field: f.name, Value: item, Reason: fmt.Sprintf("out of range %d-%d", f.min, f.max)}
			}
			s.nearest |= 1 << n
		case strings.Contains(item, "L"):
			return nil, &ParseError{Field: f.name, Value: item, Reason: "'L' must be written L, L-n, LW or L-nW"}
		default:
			vals, err := parseItem(f, item)
			if err != nil {
				return nil, err
			}
			for _, d := range vals {
				s.days |= 1 << d
			}
		}
	}
	return s, nil
}

func parseDayOfWeek(text string) (*dowSpec, error) {
	if text == "?" {
		return nil, nil
	}
	f := dowField
	if strings.Contains(text, ",") {
		// No day name contains L or #, so any L or # here is the special form.
		if strings.ContainsAny(text, "L#") {
			return nil, &ParseError{Field: f.name, Value: text, Reason: "'L' and '#' must be the only value in the field"}
		}
		if strings.Contains(text, "?") {
			return nil, &ParseError{Field: f.name, Value: text, Reason: "'?' must be the whole field"}
		}
	}
	s := &dowSpec{}
	switch {
	case text == "L":
		// Alone, L is simply the last day of the week: Saturday.
		s.days = 1 << time.Saturday
		return s, nil
	case strings.Contains(text, "#"):
		a, b, _ := strings.Cut(text, "#")
		d, err := f.single(a, text)
		if err != nil {
			return nil, err
		}
		k, ok := number(b)
		if !ok || k < 1 || k > 5 {
			return nil, &ParseError{Field: f.name, Value: text, Reason: "needs an occurrence 1-5 after '#', e.g. 6#3"}
		}
		s.days, s.nth = 1<<(d-1), k
		return s, nil
	case strings.HasSuffix(text, "L"):
		d, err := f.single(text[:len(text)-1], text)
		if err != nil {
			return nil, err
		}
		s.days, s.last = 1<<(d-1), true
		return s, nil
	}
	vals, err := parseList(f, text)
	if err != nil {
		return nil, err
	}
	for _, d := range vals {
		s.days |= 1 << (d - 1)
	}
	return s, nil
}

// single parses the one day that "n#k" and "nL" allow.
func (f field) single(s, item string) (int, error) {
	if s == "" || strings.ContainsAny(s, "-/*,") {
		return 0, &ParseError{Field: f.name, Value: item, Reason: "needs a single day before '#' or 'L', e.g. 6#3 or 6L"}
	}
	return f.value(s, item)
}
