// Package delivery checks that a pipeline's sources arrive as their
// contracts expect (pipelines.yaml: expect, freshness, volume): a file for
// every day from every active branch, each branch's newest day recent
// enough, each day's orders near that branch's usual for the weekday. It
// reads the staging tables, as loaded, and records what it found in the
// ledger.
package delivery

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// Finding is one expectation not met.
type Finding = ledger.Expectation

// Errors counts the findings of severity error.
func Errors(fs []Finding) int {
	n := 0
	for _, f := range fs {
		if f.Severity == "error" {
			n++
		}
	}
	return n
}

// Check checks every source of pl that declares expectations, as of the
// day asOf (the day the checks take for today; the zero time: today in
// each source's time zone). now is the instant freshness is measured at
// when asOf is today; for an earlier day, the end of that day.
func Check(ctx context.Context, q ledger.Querier, pl *config.Pipeline, asOf, now time.Time) ([]Finding, error) {
	var out []Finding
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		if src.Expect == nil {
			continue
		}
		day := asOf
		today := now.In(src.Location)
		if day.IsZero() {
			day = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
		}
		at := now
		if day.Format(time.DateOnly) != today.Format(time.DateOnly) {
			at = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, src.Location).AddDate(0, 0, 1)
		}
		fs, err := checkSource(ctx, q, src, day, at)
		if err != nil {
			return nil, fmt.Errorf("source %s: expectations: %w", name, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

func checkSource(ctx context.Context, q ledger.Querier, src *config.Source, asOf, at time.Time) ([]Finding, error) {
	e := src.Expect
	table, per, day := pg.Ident(splitName(src.Table)...), pg.Ident(e.Per), pg.Ident(src.DayColumn())
	var out []Finding
	add := func(kind, branch string, d time.Time, severity, detail string) {
		out = append(out, Finding{Source: src.Name, Kind: kind, Branch: branch, Date: d.Format(time.DateOnly), Severity: severity, Detail: detail})
	}
	// Missing: every day since a branch first delivered in the window,
	// up to the day before asOf, that it has no row for.
	rows, err := q.Query(ctx, fmt.Sprintf(`WITH days AS (
		    SELECT DISTINCT %[2]s::text AS branch, %[3]s AS day FROM %[1]s WHERE %[3]s >= $1::date - $2::int AND %[3]s < $1::date
		), active AS (SELECT branch, min(day) AS first FROM days GROUP BY branch)
		SELECT a.branch, g.day::date FROM active a, generate_series(a.first, $1::date - 1, interval '1 day') AS g (day)
		WHERE NOT EXISTS (SELECT FROM days d WHERE d.branch = a.branch AND d.day = g.day::date)
		ORDER BY 1, 2`, table, per, day), asOf, e.ActiveDays)
	if err != nil {
		return nil, err
	}
	var branch string
	var d time.Time
	if _, err := pgx.ForEachRow(rows, []any{&branch, &d}, func() error {
		add("missing", branch, d, e.Severity, fmt.Sprintf("no file of %s for %s", branch, d.Format(time.DateOnly)))
		return nil
	}); err != nil {
		return nil, err
	}
	if f := src.Freshness; f != nil {
		rows, err := q.Query(ctx, fmt.Sprintf(`SELECT %[2]s::text, max(%[3]s) FROM %[1]s
			WHERE %[3]s >= $1::date - $2::int AND %[3]s <= $1::date GROUP BY 1 ORDER BY 1`, table, per, day), asOf, e.ActiveDays)
		if err != nil {
			return nil, err
		}
		if _, err := pgx.ForEachRow(rows, []any{&branch, &d}, func() error {
			// A day's data is whole at its end, in the source's time zone.
			end := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, src.Location).AddDate(0, 0, 1)
			age := at.Sub(end)
			severity := ""
			switch {
			case f.ErrorAfter.Duration > 0 && age > f.ErrorAfter.Duration:
				severity = "error"
			case f.WarnAfter.Duration > 0 && age > f.WarnAfter.Duration:
				severity = "warn"
			}
			if severity != "" {
				add("stale", branch, d, severity, fmt.Sprintf("the newest day of %s is %s, %s old", branch, d.Format(time.DateOnly), age.Round(time.Hour)))
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if v := src.Volume; v != nil {
		rows, err := q.Query(ctx, fmt.Sprintf(`WITH daily AS (
			    SELECT %[2]s::text AS branch, %[3]s AS day, count(*) AS orders FROM %[1]s
			    WHERE %[3]s >= $1::date - $2::int - 28 AND %[3]s < $1::date GROUP BY 1, 2
			)
			SELECT d.branch, d.day, d.orders, m.median, m.weeks
			FROM daily d
			CROSS JOIN LATERAL (
			    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY p.orders) AS median, count(*) AS weeks
			    FROM daily p WHERE p.branch = d.branch AND p.day IN (d.day - 7, d.day - 14, d.day - 21, d.day - 28)
			) m
			WHERE d.day >= $1::date - $2::int AND m.weeks >= 2
			ORDER BY 1, 2`, table, per, day), asOf, e.ActiveDays)
		if err != nil {
			return nil, err
		}
		var orders, weeks int64
		var median float64
		if _, err := pgx.ForEachRow(rows, []any{&branch, &d, &orders, &median, &weeks}, func() error {
			share := float64(orders) / median
			if (v.WarnBelow.Fraction > 0 && share < v.WarnBelow.Fraction) || (v.WarnAbove.Fraction > 0 && share > v.WarnAbove.Fraction) {
				add("volume", branch, d, "warn", fmt.Sprintf("%d orders, %.0f%% of the median %s of the %d same weekdays before (%g)",
					orders, math.Round(share*100), d.Weekday(), weeks, median))
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func splitName(n string) []string {
	for i := range n {
		if n[i] == '.' {
			return []string{n[:i], n[i+1:]}
		}
	}
	return []string{n}
}
