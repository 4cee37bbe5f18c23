package itest

import (
	"context"
	"fmt"
	"testing"
	"time"

	schedulepb "go.temporal.io/api/schedule/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/service/worker/scheduler"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/baton-sched/baton/internal/quartz"
)

// These tests check internal/quartz's compilation against Temporal's own
// evaluation of schedule specs (the server's scheduler package), which
// lives here because importing it links the server.

var (
	corpusFrom = func(loc *time.Location) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, loc) }
	corpusTo   = func(loc *time.Location) time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, loc) }
)

// toProto converts a spec the way the SDK does when it creates a schedule
// (internal/internal_schedule_client.go: convertToPBScheduleSpec, including
// its defaults for nil calendar fields).
func toProto(spec *client.ScheduleSpec) *schedulepb.ScheduleSpec {
	ranges := func(rs []client.ScheduleRange, def ...client.ScheduleRange) []*schedulepb.Range {
		if rs == nil {
			rs = def
		}
		out := make([]*schedulepb.Range, len(rs))
		for i, r := range rs {
			out[i] = &schedulepb.Range{Start: int32(r.Start), End: int32(r.End), Step: int32(r.Step)}
		}
		return out
	}
	pb := &schedulepb.ScheduleSpec{TimezoneName: spec.TimeZoneName, Jitter: durationpb.New(spec.Jitter)}
	for _, c := range spec.Calendars {
		pb.StructuredCalendar = append(pb.StructuredCalendar, &schedulepb.StructuredCalendarSpec{
			Second:     ranges(c.Second, client.ScheduleRange{Start: 0}),
			Minute:     ranges(c.Minute, client.ScheduleRange{Start: 0}),
			Hour:       ranges(c.Hour, client.ScheduleRange{Start: 0}),
			DayOfMonth: ranges(c.DayOfMonth, client.ScheduleRange{Start: 1, End: 31}),
			Month:      ranges(c.Month, client.ScheduleRange{Start: 1, End: 12}),
			Year:       ranges(c.Year),
			DayOfWeek:  ranges(c.DayOfWeek, client.ScheduleRange{Start: 0, End: 6}),
			Comment:    c.Comment,
		})
	}
	for _, iv := range spec.Intervals {
		pb.Interval = append(pb.Interval, &schedulepb.IntervalSpec{Interval: durationpb.New(iv.Every), Phase: durationpb.New(iv.Offset)})
	}
	return pb
}

func temporalSpec(t *testing.T, spec *client.ScheduleSpec) *scheduler.CompiledSpec {
	t.Helper()
	unlimited := func() int { return 0 } // the server's defaults
	cs, err := scheduler.NewSpecBuilder(unlimited, unlimited).NewCompiledSpec(toProto(spec))
	if err != nil {
		t.Fatalf("Temporal rejects the compiled spec: %v", err)
	}
	return cs
}

func temporalNext(t *testing.T, cs *scheduler.CompiledSpec) func(time.Time) (time.Time, bool) {
	return func(after time.Time) (time.Time, bool) {
		r, err := cs.GetNextTime("", after)
		if err != nil {
			t.Fatal(err)
		}
		return r.Nominal, !r.Nominal.IsZero()
	}
}

// window is a span in which Temporal's documented fall-back behaviour
// (internal/quartz package doc) may differ from the reference.
type window struct{ from, to time.Time }

type transition struct {
	at            time.Time
	before, after int // UTC offsets in seconds
}

func transitions(from, to time.Time) []transition {
	var out []transition
	for t := from; ; {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(to) {
			return out
		}
		_, before := end.Add(-time.Second).Zone()
		_, after := end.Zone()
		if before != after {
			out = append(out, transition{at: end, before: before, after: after})
		}
		t = end
	}
}

// fallBackWindows spans each repeated hour from the start of its first pass
// to one hour after its end: Temporal's DST correction adds at most one
// hour to a time found in the repeated hour.
func fallBackWindows(ts []transition) []window {
	var out []window
	for _, tr := range ts {
		if tr.after < tr.before {
			d := time.Duration(tr.before-tr.after) * time.Second
			out = append(out, window{from: tr.at.Add(-d), to: tr.at.Add(d + time.Hour)})
		}
	}
	return out
}

type corpusCheck struct {
	t        *testing.T
	expr     string
	e        *quartz.Expr
	loc      *time.Location
	ref, tmp func(time.Time) (time.Time, bool)
	windows  []window
	compared int // fire times compared exactly
	excused  int // differences inside fall-back windows
	failed   bool
}

func (c *corpusCheck) inWindow(x time.Time) bool {
	for _, w := range c.windows {
		if !x.Before(w.from) && !x.After(w.to) {
			return true
		}
	}
	return false
}

// wallMatches reports whether the expression matches x's wall clock, the
// first pass of a repeated wall time or not.
func (c *corpusCheck) wallMatches(x time.Time) bool {
	if c.e.Matches(x, c.loc) {
		return true
	}
	const layout = "2006-01-02 15:04:05"
	twin := x.Add(-time.Hour)
	return twin.In(c.loc).Format(layout) == x.In(c.loc).Format(layout) && c.e.Matches(twin, c.loc)
}

func collect(next func(time.Time) (time.Time, bool), after, end time.Time, limit int) (out []time.Time, capped bool) {
	for len(out) < limit {
		n, ok := next(after)
		if !ok || n.After(end) {
			return out, false
		}
		out = append(out, n)
		after = n
	}
	return out, true
}

// compare checks both sequences of fire times in (after, end], at most
// limit of each: equal outside fall-back windows; inside them Temporal
// may only fire at wall times the expression matches or one hour after
// such a time.
func (c *corpusCheck) compare(what string, after, end time.Time, limit int) {
	if c.failed {
		return
	}
	ref, refCapped := collect(c.ref, after, end, limit)
	tmp, tmpCapped := collect(c.tmp, after, end, limit)
	// Compare only as far as both sequences reach.
	cut := end
	if refCapped {
		cut = ref[len(ref)-1]
	}
	if tmpCapped && tmp[len(tmp)-1].Before(cut) {
		cut = tmp[len(tmp)-1]
	}
	var exactRef, exactTmp []time.Time
	inRef := map[time.Time]bool{}
	for _, x := range ref {
		if x.After(cut) {
			break
		}
		if c.inWindow(x) {
			inRef[x.UTC()] = true
			continue
		}
		exactRef = append(exactRef, x.UTC())
	}
	for _, x := range tmp {
		if x.After(cut) {
			break
		}
		if c.inWindow(x) {
			// Temporal's correction adds one hour to a time it found, so
			// what it fires is a matching wall time or one hour after one.
			if !c.wallMatches(x) && !c.wallMatches(x.Add(-time.Hour)) {
				c.fail("%s: Temporal fires at %s, neither a wall time the expression matches nor one hour after one", what, c.show(x))
				return
			}
			if !inRef[x.UTC()] {
				c.excused++
			}
			delete(inRef, x.UTC())
			continue
		}
		exactTmp = append(exactTmp, x.UTC())
	}
	c.excused += len(inRef)
	for i := range max(len(exactRef), len(exactTmp)) {
		if i >= len(exactRef) || i >= len(exactTmp) || !exactRef[i].Equal(exactTmp[i]) {
			c.fail("%s after %s: fire #%d differs: reference %s, Temporal %s", what, c.show(after), i,
				c.showAt(exactRef, i), c.showAt(exactTmp, i))
			return
		}
	}
	c.compared += len(exactRef)
}

func (c *corpusCheck) fail(format string, args ...any) {
	c.failed = true
	c.t.Errorf("%q in %s: "+format, append([]any{c.expr, c.loc}, args...)...)
}

func (c *corpusCheck) show(x time.Time) string {
	return x.In(c.loc).Format("2006-01-02 15:04:05 MST Mon")
}

func (c *corpusCheck) showAt(xs []time.Time, i int) string {
	if i >= len(xs) {
		return "(none)"
	}
	return c.show(xs[i])
}

// TestQuartzCorpusMatchesTemporal is the acceptance check of the Quartz
// compilation: for every corpus expression in every corpus zone, the
// compiled spec evaluated by Temporal's scheduler fires exactly when the
// reference evaluator does, over five years (2026-2030):
//
//   - the first 2,000 fire times;
//   - the first fire time of every day (catches any wrong L, W or #);
//   - every fire time within 3 hours of each DST change (up to 30,000);
//   - the fire times from February 28th to March 1st of each year (up
//     to 20,000).
//
// The only excused differences are inside fall-back windows, where
// Temporal's behaviour is documented in internal/quartz; there Temporal
// must still fire only at wall times the expression matches or one hour
// after one (its DST correction adds a fixed hour).
func TestQuartzCorpusMatchesTemporal(t *testing.T) {
	exprs := quartz.Corpus()
	total, excused := 0, 0
	for _, zone := range quartz.CorpusZones() {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		from, to := corpusFrom(loc), corpusTo(loc)
		trans := transitions(from, to)
		windows := fallBackWindows(trans)
		zoneCompared, zoneExcused := 0, 0
		for _, expr := range exprs {
			e, err := quartz.Parse(expr)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := quartz.Compile(e, zone)
			if err != nil {
				t.Fatalf("Compile(%q, %s): %v", expr, zone, err)
			}
			c := &corpusCheck{
				t: t, expr: expr, e: e, loc: loc, windows: windows,
				ref: func(after time.Time) (time.Time, bool) { return e.Next(after, loc) },
				tmp: temporalNext(t, temporalSpec(t, spec)),
			}
			start := from.Add(-time.Second)
			c.compare("first 2000", start, to, 2000)
			for day := from; day.Before(to); day = day.AddDate(0, 0, 1) {
				c.compare("first of the day", day.Add(-time.Second), to, 1)
			}
			for _, tr := range trans {
				c.compare("around a DST change", tr.at.Add(-3*time.Hour-time.Second), tr.at.Add(3*time.Hour), 30000)
			}
			for y := from.Year(); y < to.Year(); y++ {
				feb28 := time.Date(y, 2, 28, 0, 0, 0, 0, loc)
				c.compare("February 28th to March 1st", feb28.Add(-time.Second), feb28.AddDate(0, 0, 2).Add(-time.Second), 20000)
			}
			zoneCompared += c.compared
			zoneExcused += c.excused
		}
		t.Logf("%s: %d DST changes, %d fire times compared exactly, %d fall-back differences excused",
			zone, len(trans), zoneCompared, zoneExcused)
		if len(trans) == 0 && zoneExcused != 0 {
			t.Errorf("%s has no DST but %d differences were excused", zone, zoneExcused)
		}
		total += zoneCompared
		excused += zoneExcused
	}
	t.Logf("%d expressions x %d zones: %d fire times compared exactly, %d excused", len(exprs), len(quartz.CorpusZones()), total, excused)
}

// The fall-back differences the package documentation describes, pinned:
// when Temporal changes them, this fails and the documentation (and the
// excused windows above) need a fresh look.
func TestQuartzTemporalFallBackBehaviour(t *testing.T) {
	cases := []struct {
		expr, zone, after string
		n                 int
		reference         []string
		temporal          []string
	}{
		{"0 30 1 * * ?", "America/New_York", "2026-10-31T12:00:00Z", 2,
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"},
			[]string{"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z"}},
		{"0 30 1 * * ?", "Europe/Berlin", "2026-10-24T12:00:00Z", 2,
			[]string{"2026-10-24T23:30:00Z", "2026-10-26T00:30:00Z"},
			[]string{"2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z"}},
		{"0 0/20 2 * * ?", "Europe/Berlin", "2026-10-24T12:00:00Z", 2,
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T00:20:00Z"},
			[]string{"2026-10-25T01:00:00Z", "2026-10-25T02:20:00Z"}},
		{"0 30 2 * * ?", "Europe/Berlin", "2026-10-24T12:00:00Z", 1,
			[]string{"2026-10-25T00:30:00Z"},
			[]string{"2026-10-25T01:30:00Z"}},
		{"0 */15 * * * ?", "Europe/Berlin", "2026-10-24T23:50:00Z", 7,
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T00:15:00Z", "2026-10-25T00:30:00Z", "2026-10-25T00:45:00Z",
				"2026-10-25T02:00:00Z", "2026-10-25T02:15:00Z", "2026-10-25T02:30:00Z"},
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T01:15:00Z", "2026-10-25T02:30:00Z", "2026-10-25T02:45:00Z",
				"2026-10-25T03:00:00Z", "2026-10-25T03:15:00Z", "2026-10-25T03:30:00Z"}},
	}
	for _, c := range cases {
		loc, err := time.LoadLocation(c.zone)
		if err != nil {
			t.Fatal(err)
		}
		e, err := quartz.Parse(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := quartz.Compile(e, c.zone)
		if err != nil {
			t.Fatal(err)
		}
		after, err := time.Parse(time.RFC3339, c.after)
		if err != nil {
			t.Fatal(err)
		}
		run := func(next func(time.Time) (time.Time, bool)) []string {
			var out []string
			for at := after; len(out) < c.n; {
				n, ok := next(at)
				if !ok {
					break
				}
				out = append(out, n.UTC().Format(time.RFC3339))
				at = n
			}
			return out
		}
		ref := run(func(at time.Time) (time.Time, bool) { return e.Next(at, loc) })
		tmp := run(temporalNext(t, temporalSpec(t, spec)))
		if fmt.Sprint(ref) != fmt.Sprint(c.reference) {
			t.Errorf("%q in %s: reference %v, want %v", c.expr, c.zone, ref, c.reference)
		}
		if fmt.Sprint(tmp) != fmt.Sprint(c.temporal) {
			t.Errorf("%q in %s: Temporal now fires %v, documented %v; update internal/quartz's package doc", c.expr, c.zone, tmp, c.temporal)
		}
		// Matches tells a caller which of Temporal's fires to drop.
		for _, s := range c.temporal {
			x, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatal(err)
			}
			next, _ := e.Next(x.Add(-time.Second), loc)
			if want := next.Equal(x); e.Matches(x, loc) != want {
				t.Errorf("%q in %s: Matches(%s) = %v, want %v", c.expr, c.zone, s, !want, want)
			}
		}
	}
}

func TestQuartzFixedRateMatchesTemporal(t *testing.T) {
	for _, c := range []struct{ interval, phase time.Duration }{
		{90 * time.Minute, 0}, {90 * time.Minute, 15 * time.Minute}, {7 * time.Hour, 0}, {time.Second, 0}, {13 * time.Second, 5 * time.Second}, {24 * time.Hour, 3 * time.Hour},
	} {
		spec, err := quartz.FixedRateSpec(c.interval, c.phase)
		if err != nil {
			t.Fatal(err)
		}
		next := temporalNext(t, temporalSpec(t, &spec))
		for at := time.Date(2026, 3, 8, 0, 0, 0, 500, time.UTC); at.Before(time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC)); at = at.Add(17 * time.Minute) {
			want, _ := next(at)
			if got := quartz.NextFixedRate(c.interval, c.phase, at); !got.Equal(want) {
				t.Errorf("every %v + %v after %v: NextFixedRate %v, Temporal %v", c.interval, c.phase, at, got, want)
			}
		}
	}
}

// TestQuartzScheduleOnServer creates real schedules from compiled specs on
// the embedded server, through the SDK, and compares the next action times
// the server reports with the reference.
func TestQuartzScheduleOnServer(t *testing.T) {
	srv := startTemporal(t)
	c, err := client.Dial(client.Options{HostPort: srv.FrontendAddr(), Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i, tc := range []struct{ expr, zone string }{
		{"0 15 10 L-2 * ?", "Asia/Shanghai"},
		{"0 0 0 LW * ?", "America/New_York"},
		{"0 15 10 ? * 6#3", "Europe/Berlin"},
		{"0 0 18 ? FEB 5L", "UTC"},
		{"0 0 0 29 2 ?", "Asia/Shanghai"},
		{"0 0 0 1W,15W * ?", "America/New_York"},
	} {
		e, err := quartz.Parse(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		loc, err := time.LoadLocation(tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		spec, err := quartz.Compile(e, tc.zone)
		if err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		h, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:     fmt.Sprintf("quartz-%d", i),
			Spec:   *spec,
			Paused: true,
			Action: &client.ScheduleWorkflowAction{ID: fmt.Sprintf("quartz-probe-%d", i), Workflow: "quartz-probe", TaskQueue: "quartz-probe"},
		})
		if err != nil {
			t.Fatalf("%q: create schedule: %v", tc.expr, err)
		}
		var got []time.Time
		for deadline := time.Now().Add(30 * time.Second); len(got) == 0 && time.Now().Before(deadline); {
			d, err := h.Describe(ctx)
			if err != nil {
				t.Fatalf("%q: describe: %v", tc.expr, err)
			}
			if got = d.Info.NextActionTimes; len(got) == 0 {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if len(got) < 5 {
			t.Fatalf("%q: server reports %d next action times", tc.expr, len(got))
		}
		// The server computed from some moment after `before`; these
		// expressions fire at most daily, so the first is Next(before).
		at := before
		for j, g := range got {
			want, ok := e.Next(at, loc)
			if !ok || !want.Equal(g) {
				t.Errorf("%q in %s: action #%d at %s, reference %s", tc.expr, tc.zone, j, g.In(loc), want.In(loc))
				break
			}
			at = want
		}
		if err := h.Delete(ctx); err != nil {
			t.Errorf("delete schedule: %v", err)
		}
	}
}
