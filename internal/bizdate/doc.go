// Package bizdate plans business dates (业务日期): parsing, and the date
// ranges a backfill walks, with a step and an order. Dates are calendar
// days written YYYY-MM-DD; no time zone enters here.
package bizdate
