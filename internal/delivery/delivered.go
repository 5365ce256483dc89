package delivery

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/config"
	"github.com/percolate/percolate/internal/ledger"
)

// The missing days are found in the ledger's record of what each group
// of a source's table holds (percolate.delivered: first and newest day,
// and the holes between), brought up to date before each check from the
// days the manifest says were loaded or replaced since the last: a night
// reads the staging table's rows of a night's days, not of every day
// (117 M sums rows at a thousand branches × ten years). The record trusts
// the manifest: a staging row written or deleted by other means is seen
// by a check with Options.Full, or when the table (its oid), the group
// column or the day column is another than the record was read from.

// refresh brings the record of src's table up to date in q (a transaction
// that the caller commits, or not); with full, or without a record of
// the same table, it reads the table whole.
func refresh(ctx context.Context, q ledger.Querier, src *config.Source, full bool) error {
	var book ledger.Store
	table, per, day, _ := counted(src)
	var oid uint32
	if err := q.QueryRow(ctx, "SELECT coalesce(to_regclass($1)::oid, 0)", table).Scan(&oid); err != nil {
		return err
	}
	key := fmt.Sprintf("%s %d %s %s", table, oid, per, day)
	mark, watermark, err := book.DeliveredMark(ctx, q, src.Name)
	if err != nil {
		return err
	}
	if full || mark != key {
		// The manifest's newest load first: a file loaded while the table
		// is read is read again next time.
		_, newest, err := book.LoadedSince(ctx, q, src.Name, math.MaxInt64)
		if err != nil {
			return err
		}
		all, err := readWhole(ctx, q, table, per, day)
		if err != nil {
			return err
		}
		return book.RecordDelivered(ctx, q, src.Name, key, newest, all, nil, true)
	}
	days, newest, err := book.LoadedSince(ctx, q, src.Name, watermark)
	if err != nil || newest == watermark {
		return err
	}
	var set []ledger.Delivered
	var gone []string
	if len(days) > 0 {
		present, err := readDays(ctx, q, table, per, day, days)
		if err != nil {
			return err
		}
		groups, err := book.DeliveredGroups(ctx, q, src.Name)
		if err != nil {
			return err
		}
		set, gone = apply(groups, days, present)
	}
	return book.RecordDelivered(ctx, q, src.Name, key, newest, set, gone, false)
}

// readWhole reads, in one scan of the table, every group's first and
// newest day and the days between that it has no rows for.
func readWhole(ctx context.Context, q ledger.Querier, table, per, day string) ([]ledger.Delivered, error) {
	rows, err := q.Query(ctx, fmt.Sprintf(`WITH days AS MATERIALIZED (
		    SELECT DISTINCT %[2]s::text AS grp, %[3]s AS day FROM %[1]s WHERE %[3]s IS NOT NULL
		), groups AS (SELECT grp, min(day) AS first, max(day) AS newest FROM days GROUP BY grp)
		SELECT g.grp, g.first, g.newest, coalesce(array_agg(s.day::date ORDER BY s.day) FILTER (WHERE s.day IS NOT NULL), '{}')
		FROM groups g LEFT JOIN LATERAL (
		    SELECT s.day FROM generate_series(g.first, g.newest, interval '1 day') AS s (day)
		    WHERE NOT EXISTS (SELECT FROM days d WHERE d.grp = g.grp AND d.day = s.day::date)
		) s ON true
		GROUP BY g.grp, g.first, g.newest`, table, per, day))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ledger.Delivered])
}

// readDays reads which groups have rows on each of days (sorted), by day
// number (see dayNumber).
func readDays(ctx context.Context, q ledger.Querier, table, per, day string, days []time.Time) (map[string]map[int64]bool, error) {
	// The bounds let the day's BRIN index skip the rest of the table.
	rows, err := q.Query(ctx, fmt.Sprintf(`SELECT DISTINCT %[2]s::text, %[3]s FROM %[1]s
		WHERE %[3]s >= $2 AND %[3]s <= $3 AND %[3]s = ANY($1)`, table, per, day), days, days[0], days[len(days)-1])
	if err != nil {
		return nil, err
	}
	out := map[string]map[int64]bool{}
	var grp string
	var d time.Time
	_, err = pgx.ForEachRow(rows, []any{&grp, &d}, func() error {
		if out[grp] == nil {
			out[grp] = map[int64]bool{}
		}
		out[grp][dayNumber(d)] = true
		return nil
	})
	return out, err
}

// dayNumber counts the days of d (a date, at midnight UTC) since 1970.
func dayNumber(d time.Time) int64 { return d.Unix() / 86400 }

// apply brings the record groups up to date with what the table now has
// on days (present, see readDays): it returns the groups whose days
// changed, as they are now, and those that have no day left.
func apply(groups []ledger.Delivered, days []time.Time, present map[string]map[int64]bool) (set []ledger.Delivered, gone []string) {
	byName := make(map[string]ledger.Delivered, len(groups))
	for _, g := range groups {
		byName[g.Group] = g
	}
	for name := range present {
		if _, ok := byName[name]; !ok {
			byName[name] = ledger.Delivered{Group: name}
		}
	}
	touched := make(map[int64]bool, len(days))
	for _, d := range days {
		touched[dayNumber(d)] = true
	}
	lo, hi := dayNumber(days[0]), dayNumber(days[len(days)-1])
	for name, g := range byName {
		had := hadDays(g)
		now := func(n int64) bool {
			if touched[n] {
				return present[name][n]
			}
			return had(n)
		}
		changed := false
		for _, d := range days {
			if n := dayNumber(d); now(n) != had(n) {
				changed = true
			}
		}
		if !changed {
			continue
		}
		from, to := lo, hi
		if !g.First.IsZero() {
			from, to = min(from, dayNumber(g.First)), max(to, dayNumber(g.Newest))
		}
		next := ledger.Delivered{Group: name}
		var holes []time.Time
		for n := from; n <= to; n++ {
			d := time.Unix(n*86400, 0).UTC()
			switch {
			case !now(n):
				if !next.First.IsZero() {
					holes = append(holes, d)
				}
			default:
				if next.First.IsZero() {
					next.First = d
				}
				next.Newest = d
			}
		}
		if next.First.IsZero() {
			gone = append(gone, name)
			continue
		}
		for _, h := range holes {
			if h.Before(next.Newest) {
				next.Holes = append(next.Holes, h)
			}
		}
		set = append(set, next)
	}
	return set, gone
}

// hadDays says whether the record g had a day, by its number.
func hadDays(g ledger.Delivered) func(int64) bool {
	if g.First.IsZero() {
		return func(int64) bool { return false }
	}
	first, newest := dayNumber(g.First), dayNumber(g.Newest)
	holes := make(map[int64]bool, len(g.Holes))
	for _, h := range g.Holes {
		holes[dayNumber(h)] = true
	}
	return func(n int64) bool { return n >= first && n <= newest && !holes[n] }
}
