// Package delivery checks that a pipeline's sources arrive as their
// contracts expect (pipelines.yaml: expect, freshness, volume): a file for
// every day from every group (a value of the column expect is per) that has ever delivered, until the
// project retires it or declares the source ended; each group's newest day
// recent enough; each day's rows near that group's usual for the weekday.
// It reads the staging tables (or their sums tables), as loaded, and
// records what it found in the ledger.
package delivery

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
)

// Finding is one expectation not met.
type Finding = ledger.Expectation

// Kinds of findings.
const (
	Missing = "missing" // a group sent nothing for a day
	Stale   = "stale"   // a group's newest day is old
	Silent  = "silent"  // every group's newest day is old: one finding, not one per group
	Volume  = "volume"  // a day's rows far from the group's usual
)

// volumeDays is how many days back a day's volume is checked: an old
// anomaly is history, a missing day stays a finding.
const volumeDays = 14

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

// Silence says, in their own words, the sources whose every group is
// silent at severity error: " (invoices: no files from any store
// since …)", or "".
func Silence(fs []Finding) string {
	var s []string
	for _, f := range fs {
		if f.Kind == Silent && f.Severity == "error" {
			s = append(s, f.Source+": "+f.Detail)
		}
	}
	if len(s) == 0 {
		return ""
	}
	return " (" + strings.Join(s, "; ") + ")"
}

// Options says what Check checks.
type Options struct {
	// AsOf is the day the checks take for today; zero: today in each
	// source's time zone.
	AsOf time.Time
	// Since is the first day a missing day is listed from; zero: each
	// group's first day.
	Since time.Time
	// Now is the instant freshness is measured at when AsOf is today;
	// for an earlier day, the end of that day.
	Now time.Time
	// Keep keeps what the check read of the sources' tables in the
	// ledger, for the next to start from (see refresh): only a caller
	// holding the run lock may, since a load that commits while it reads
	// would be taken as read.
	Keep bool
	// Full reads the sources' tables whole, not only the days loaded
	// since the last check kept: after their rows were changed other
	// than by a load.
	Full bool
}

// DB is what Check needs of a connection: a pool, or a transaction (its
// Begin makes a savepoint).
type DB interface {
	ledger.Querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Check checks every source of pl that declares expectations.
func Check(ctx context.Context, q DB, pl *config.Pipeline, opt Options) ([]Finding, error) {
	var out []Finding
	for _, name := range pl.SourceNames() {
		src := pl.Sources[name]
		if src.Expect == nil {
			continue
		}
		day, at := clock(src, opt)
		fs, err := checkSource(ctx, q, src, day, at, opt)
		if err != nil {
			return nil, fmt.Errorf("source %s: expectations: %w", name, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// clock returns the day src's checks take for today and the instant its
// freshness is measured at: a source that ended is checked as of the day
// after its last, at that day's start.
func clock(src *config.Source, opt Options) (day, at time.Time) {
	day, at = opt.AsOf, opt.Now
	today := opt.Now.In(src.Location)
	if day.IsZero() {
		day = time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC)
	}
	if day.Format(time.DateOnly) != today.Format(time.DateOnly) {
		at = time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, src.Location).AddDate(0, 0, 1)
	}
	if end := src.Expect.Ended.Time; !end.IsZero() && day.After(end) {
		day = end.AddDate(0, 0, 1)
		if start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, src.Location); at.After(start) {
			at = start
		}
	}
	return day, at
}

// group is what the staging table says of one group's deliveries.
type group struct {
	name          string
	first, newest time.Time
}

// gap is a day a group sent nothing for.
type gap struct {
	name string
	day  time.Time
}

func checkSource(ctx context.Context, q DB, src *config.Source, asOf, at time.Time, opt Options) ([]Finding, error) {
	e := src.Expect
	groups, missing, err := deliveries(ctx, q, src, asOf, opt)
	if err != nil {
		return nil, err
	}
	finding := func(kind, grp string, d time.Time, severity, detail string) Finding {
		return Finding{Source: src.Name, Kind: kind, Group: grp, Date: d.Format(time.DateOnly), Severity: severity, Detail: detail}
	}
	var stale []Finding
	var newest time.Time // of any group still expected
	for _, g := range groups {
		if slices.Contains(e.Retired, g.name) {
			continue
		}
		if g.newest.After(newest) {
			newest = g.newest
		}
		if sev, age := staleness(src, g.newest, at); sev != "" {
			stale = append(stale, finding(Stale, g.name, g.newest, sev, fmt.Sprintf("the newest day of %s is %s, %s old", g.name, g.newest.Format(time.DateOnly), span(age))))
		}
	}
	var out []Finding
	// Every group silent is one finding, not one a group and a day: the
	// days after the newest anyone sent are that finding's.
	silent := ""
	if !newest.IsZero() {
		silent, _ = staleness(src, newest, at)
		if src.Freshness == nil && newest.Before(asOf.AddDate(0, 0, -1)) {
			silent = e.Severity
		}
	}
	for _, m := range missing {
		if silent == "" || !m.day.After(newest) {
			out = append(out, finding(Missing, m.name, m.day, e.Severity, fmt.Sprintf("no file of %s for %s", m.name, m.day.Format(time.DateOnly))))
		}
	}
	if silent != "" {
		_, age := staleness(src, newest, at)
		out = append(out, finding(Silent, "", newest, silent, fmt.Sprintf("no files from any %s since %s (%s ago)", e.Per, newest.Format(time.DateOnly), span(age))))
	}
	for _, f := range stale {
		// A group worse off than the silence of them all is said apart.
		if silent == "" || (f.Severity == "error" && silent != "error") {
			out = append(out, f)
		}
	}
	if src.Volume != nil {
		vs, err := volumes(ctx, q, src, asOf)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return out, nil
}

// staleness is the severity of a newest day d's age at the instant at (""
// when it is fresh enough), and that age. A day's data is whole at its
// end, in the source's time zone.
func staleness(src *config.Source, d, at time.Time) (string, time.Duration) {
	end := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, src.Location).AddDate(0, 0, 1)
	age := at.Sub(end).Round(time.Hour)
	f := src.Freshness
	switch {
	case f == nil:
		return "", age
	case f.ErrorAfter.Duration > 0 && age > f.ErrorAfter.Duration:
		return "error", age
	case f.WarnAfter.Duration > 0 && age > f.WarnAfter.Duration:
		return "warn", age
	}
	return "", age
}

// span says an age in hours under two days, in days and hours beyond.
func span(d time.Duration) string {
	if d < 48*time.Hour {
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	days, hours := int(d.Hours())/24, int(d.Hours())%24
	if hours == 0 {
		return fmt.Sprintf("%d days", days)
	}
	return fmt.Sprintf("%d days %dh", days, hours)
}

// Record records a check of pl's deliveries as of a day, by a run (runID,
// or 0 for check-sources), and what it found; and how long pl may go
// without a successful run, which health.last_success reads.
func Record(ctx context.Context, q ledger.Querier, pl *config.Pipeline, runID int64, asOf time.Time, found []Finding) error {
	var book ledger.Store
	if err := book.RecordSourceCheck(ctx, q, runID, asOf, found); err != nil {
		return fmt.Errorf("record the delivery check: %w", err)
	}
	if err := book.DeclarePipeline(ctx, q, pl.Name, pl.RunDue()); err != nil {
		return fmt.Errorf("record the pipeline's success_within: %w", err)
	}
	return nil
}
