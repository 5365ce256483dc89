package delivery

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// counted is the table the group-days are read from, its day and group
// columns, and how a day's rows are counted: the source's sums table when
// it has the group column (a row per file, day, hour and group, not one
// per row), else the source's own table.
func counted(src *config.Source) (table, per, day, rows string) {
	per, day = pg.Ident(src.Expect.Per), pg.Ident(src.DayColumn())
	if s := src.Sums; s != nil && slices.Contains(s.By, src.Expect.Per) {
		return pg.Ident(splitName(s.Table)...), per, day, "sum(" + pg.Ident(s.Count) + ")"
	}
	return pg.Ident(splitName(src.Table)...), per, day, "count(*)"
}

// deliveries returns every group's first and newest day before asOf,
// and every day from its first (or since, when later) up to the day
// before asOf that it sent nothing for; a retired group's days only up to
// its newest. They are read from the ledger's record of the table (see
// refresh), brought up to date in a transaction that is committed with
// opt.Keep, else rolled back.
func deliveries(ctx context.Context, db DB, src *config.Source, asOf time.Time, opt Options) ([]group, []gap, error) {
	var from *time.Time
	if !opt.Since.IsZero() {
		from = &opt.Since
	}
	tx, err := db.Begin(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := refresh(ctx, tx, src, opt.Full); err != nil {
		return nil, nil, fmt.Errorf("read the deliveries: %w", err)
	}
	found, missing, err := (ledger.Store{}).Gaps(ctx, tx, src.Name, asOf, from, append([]string{}, src.Expect.Retired...))
	if err != nil {
		return nil, nil, err
	}
	if opt.Keep {
		if err := tx.Commit(ctx); err != nil {
			return nil, nil, err
		}
	}
	groups := make([]group, len(found))
	for i, g := range found {
		groups[i] = group{name: g.Group, first: g.First, newest: g.Newest}
	}
	gaps := make([]gap, len(missing))
	for i, m := range missing {
		gaps[i] = gap{name: m.Group, day: m.Day}
	}
	return groups, gaps, nil
}

// volumes finds the days of the last volumeDays before asOf whose rows
// are outside the bounds declared, against the median of the group's
// same weekday over the 4 weeks before.
func volumes(ctx context.Context, q ledger.Querier, src *config.Source, asOf time.Time) ([]Finding, error) {
	v := src.Volume
	table, per, day, count := counted(src)
	rows, err := q.Query(ctx, fmt.Sprintf(`WITH daily AS (
		    SELECT %[2]s::text AS grp, %[3]s AS day, %[4]s AS n FROM %[1]s
		    WHERE %[3]s >= $1::date - $2::int - 28 AND %[3]s < $1::date GROUP BY 1, 2
		)
		-- Joined by group, hashed: a lateral scan of every group-day for
		-- each took 1 s at 100 groups and grows with their square.
		SELECT d.grp, d.day, d.n::bigint, percentile_cont(0.5) WITHIN GROUP (ORDER BY p.n), count(*)
		FROM daily d
		JOIN daily p ON p.grp = d.grp AND d.day - p.day IN (7, 14, 21, 28)
		WHERE d.day >= $1::date - $2::int AND NOT d.grp = ANY($3::text[])
		GROUP BY d.grp, d.day, d.n
		HAVING count(*) >= 2
		ORDER BY 1, 2`, table, per, day, count), asOf, volumeDays, append([]string{}, src.Expect.Retired...))
	if err != nil {
		return nil, err
	}
	var out []Finding
	var name string
	var d time.Time
	var n, weeks int64
	var median float64
	_, err = pgx.ForEachRow(rows, []any{&name, &d, &n, &median, &weeks}, func() error {
		share := float64(n) / median
		if (v.WarnBelow.Fraction > 0 && share < v.WarnBelow.Fraction) || (v.WarnAbove.Fraction > 0 && share > v.WarnAbove.Fraction) {
			out = append(out, Finding{Source: src.Name, Kind: Volume, Group: name, Date: d.Format(time.DateOnly), Severity: "warn",
				Detail: fmt.Sprintf("%d rows, %.0f%% of the median %s of the %d same weekdays before (%g)",
					n, math.Round(share*100), d.Weekday(), weeks, median)})
		}
		return nil
	})
	return out, err
}

func splitName(n string) []string {
	for i := range n {
		if n[i] == '.' {
			return []string{n[:i], n[i+1:]}
		}
	}
	return []string{n}
}
