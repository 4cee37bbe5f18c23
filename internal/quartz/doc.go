// Package quartz parses Quartz cron expressions, evaluates them, and
// compiles them to Temporal schedule specs; it also builds fixed-rate
// specs for periods cron cannot express.
//
// # Syntax
//
// Six or seven blank-separated fields: second, minute, hour, day-of-month,
// month, day-of-week, and an optional year (1970-2199; omitted means every
// year). Every field takes *, values, ranges a-b, steps a/n, */n and a-b/n,
// and comma lists; a range whose end is below its start wraps (22-2 hours,
// FRI-MON). Months are 1-12 or JAN-DEC, days of the week 1-7 or SUN-SAT
// with 1 = Sunday, as in Quartz; full English names work too, and letters
// are case-insensitive. Exactly one of day-of-month and day-of-week must
// be '?': Quartz never implemented matching both.
//
// Day-of-month also takes L (last day), L-n (n days before it, n <= 30),
// dW (the weekday nearest day d, never leaving the month: a Saturday 1st
// moves to Monday the 3rd, a Sunday last day to the Friday before), LW
// (last weekday) and L-nW. These may be mixed in one list, which selects
// the union of their days. Day-of-week also takes nL (the last weekday n
// of the month, 6L = last Friday), n#k (the k-th weekday n, k = 1-5, 6#3 =
// third Friday) and L alone, which is simply 7 = Saturday; nL and n#k must
// be the whole field.
//
// Where Quartz is lax this parser says no: a step of 0 (Quartz reads */0
// as *), '?' inside a list, W after a range, and trailing text Quartz
// ignores. One deliberate difference: Quartz's CronExpression looks only at
// the first of several dW items at or after the current day, so "15W,16W"
// can skip the 16W day after a Saturday 15th; here every item counts.
//
// # Evaluation and daylight saving time
//
// (*Expr).Next is the reference evaluator: a plain day-by-day,
// second-by-second search on the wall clock of the trigger's zone. Two
// rules settle DST, and they are the ones the Quartz FAQ describes:
//
//   - a wall time that does not exist (spring forward) does not fire:
//     "0 30 2 * * ?" in America/New_York skips 2026-03-08;
//   - a wall time that occurs twice (fall back) fires once, at its first
//     occurrence: "0 30 1 * * ?" fires at 01:30 EDT on 2026-11-01, and
//     "0 */15 * * * ?" does not fire again in the repeated 01:00-02:00 EST.
//
// Quartz itself is not consistent in the repeated hour: a search that
// enters it by resetting java.util.Calendar fields can land on the later
// pass, since Calendar resolves an ambiguous local time to standard time,
// and Quartz issue #1138 reports getTimeAfter returning null there. Baton
// keeps the single rule above.
//
// # Compilation to Temporal
//
// Compile produces calendars whose union is exactly the expression's fire
// times; see Compile for how L, W, LW, nL and n#k become several
// calendars. No horizon is needed: Temporal computes calendar times only
// for 2000-2100 (FirstCalendarYear, LastCalendarYear; the server rejects
// other Year values), and February's leap years within that range are
// listed explicitly where they matter. Years outside it are dropped.
//
// Temporal matches calendars on the wall clock of the spec's
// TimeZoneName (service/worker/scheduler calendar.go in server v1.32, used
// by both the workflow and the CHASM scheduler). It skips wall times that
// do not exist, like the reference. In the fall-back hour it differs, and
// differently on each side of UTC, because of how Go's time.Date resolves
// an ambiguous wall time and how Temporal corrects for it:
//
//   - west of UTC (America/New_York) a matching wall time in the repeated
//     hour fires in both passes: "0 30 1 * * ?" fires at 01:30 EDT and
//     again at 01:30 EST on 2026-11-01;
//   - east of UTC (Europe/Berlin, where 02:00-03:00 repeats) Temporal
//     takes the hour before the repeated one for the repeated one and adds
//     a fixed hour to times it finds there. On 2026-10-25 "0 30 1 * * ?"
//     fires at 01:30 CEST and again at 02:30 CEST, a wall time it does not
//     match; "0 30 2 * * ?" fires at 02:30 CET, not CEST; "0 */15 * * * ?"
//     fires 02:00 CEST, 02:15 CET, then 03:30 CET, losing 03:00 and 03:15
//     CET; "0 0/20 2 * * ?" fires 02:00 CET and 03:20 CET.
//
// Every such difference lies between the start of the repeated hour's
// first pass and one hour after its end, and each time Temporal fires
// there is a wall time the expression matches or one hour after one.
// Outside that window Temporal and Next agree exactly. internal/itest
// verifies both for the Corpus in four zones and pins the examples above.
// A run started by a schedule can use (*Expr).Matches on its nominal time
// to drop the extra fires; lost ones cannot be recovered, so a schedule
// that must fire exactly around a fall-back change should use UTC or a
// zone without DST.
//
// # Fixed rate
//
// FixedRateSpec fires every interval (whole seconds, at least 1s) plus a
// phase below the interval. Temporal anchors the grid at the Unix epoch,
// not at the schedule's creation, and ignores the time zone.
package quartz
