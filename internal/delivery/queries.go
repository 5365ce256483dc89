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

// deliveries reads, in one scan of the table, every group's first and
// newest day before asOf, and every day from its first (or since, when
// later) up to the day before asOf that it sent nothing for; a retired
// group's days only up to its newest.
func deliveries(ctx context.Context, q ledger.Querier, src *config.Source, asOf, since time.Time) ([]group, []gap, error) {
	table, per, day, _ := counted(src)
	var from *time.Time
	if !since.IsZero() {
		from = &since
	}
	retired := append([]string{}, src.Expect.Retired...)
	rows, err := q.Query(ctx, fmt.Sprintf(`WITH days AS MATERIALIZED (
		    SELECT DISTINCT %[2]s::text AS grp, %[3]s AS day FROM %[1]s WHERE %[3]s < $1::date
		), groups AS (SELECT grp, min(day) AS first, max(day) AS newest FROM days GROUP BY grp)
		SELECT true, grp, first, newest FROM groups
		UNION ALL
		SELECT false, g.grp, s.day::date, NULL
		FROM groups g, generate_series(greatest(g.first, $2::date),
		    CASE WHEN g.grp = ANY($3::text[]) THEN g.newest ELSE $1::date - 1 END, interval '1 day') AS s (day)
		WHERE NOT EXISTS (SELECT FROM days d WHERE d.grp = g.grp AND d.day = s.day::date)
		ORDER BY 1 DESC, 2, 3`, table, per, day), asOf, from, retired)
	if err != nil {
		return nil, nil, err
	}
	var groups []group
	var gaps []gap
	var isGroup bool
	var name string
	var d time.Time
	var newest *time.Time
	_, err = pgx.ForEachRow(rows, []any{&isGroup, &name, &d, &newest}, func() error {
		if isGroup {
			groups = append(groups, group{name: name, first: d, newest: *newest})
		} else {
			gaps = append(gaps, gap{name: name, day: d})
		}
		return nil
	})
	return groups, gaps, err
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
		SELECT d.grp, d.day, d.n::bigint, m.median, m.weeks
		FROM daily d
		CROSS JOIN LATERAL (
		    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY p.n) AS median, count(*) AS weeks
		    FROM daily p WHERE p.grp = d.grp AND p.day IN (d.day - 7, d.day - 14, d.day - 21, d.day - 28)
		) m
		WHERE d.day >= $1::date - $2::int AND m.weeks >= 2 AND NOT d.grp = ANY($3::text[])
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
