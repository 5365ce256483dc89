package ledger

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivered is what a source's table holds of one group's days (a value
// of the column its expect is per): from First to Newest, but Holes.
type Delivered struct {
	Group         string
	First, Newest time.Time
	Holes         []time.Time
}

// DeliveredMark returns what the delivery check's record of source was
// read from (see RecordDelivered) and the manifest's newest load_id then;
// "" when there is none.
func (Store) DeliveredMark(ctx context.Context, q Querier, source string) (counted string, watermark int64, err error) {
	err = q.QueryRow(ctx, `SELECT counted, watermark FROM percolate.delivered_marks WHERE source = $1`, source).Scan(&counted, &watermark)
	if err == pgx.ErrNoRows {
		return "", 0, nil
	}
	return counted, watermark, wrap("read the delivered days' mark", err)
}

// LoadedSince returns the days of source's files loaded, or replaced, since
// the load_id watermark (the days whose rows may have changed since), and
// the manifest's newest load_id now. Each is found by an index: the days
// of a night's files, not the history's.
func (Store) LoadedSince(ctx context.Context, q Querier, source string, watermark int64) ([]time.Time, int64, error) {
	var days []time.Time
	var newest int64
	err := q.QueryRow(ctx, `SELECT coalesce((SELECT max(load_id) FROM percolate.files), 0),
		    coalesce(ARRAY(SELECT d.day FROM percolate.file_days d JOIN percolate.files f USING (load_id)
		                   WHERE f.source = $1 AND f.load_id > $2
		                   UNION
		                   SELECT d.day FROM percolate.file_days d JOIN percolate.files f USING (load_id)
		                   WHERE f.source = $1 AND f.replaced_by > $2
		                   ORDER BY 1), '{}')`, source, watermark).Scan(&newest, &days)
	return days, newest, wrap("find the days loaded since", err)
}

// DeliveredGroups returns the record of source's groups.
func (Store) DeliveredGroups(ctx context.Context, q Querier, source string) ([]Delivered, error) {
	rows, err := q.Query(ctx, `SELECT grp, first, newest, holes FROM percolate.delivered WHERE source = $1`, source)
	if err != nil {
		return nil, wrap("read the delivered days", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Delivered])
	return out, wrap("read the delivered days", err)
}

// RecordDelivered records what source's table counted holds of the groups
// set (the others are kept, but those in gone), as of the manifest's
// load_id watermark; with whole, set is every group and the others go.
func (Store) RecordDelivered(ctx context.Context, q Querier, source, counted string, watermark int64, set []Delivered, gone []string, whole bool) error {
	n := len(set)
	groups, firsts, newests, holes := make([]string, n), make([]time.Time, n), make([]time.Time, n), make([]string, n)
	for i, g := range set {
		groups[i], firsts[i], newests[i] = g.Group, g.First, g.Newest
		days := make([]string, len(g.Holes))
		for j, d := range g.Holes {
			days[j] = d.Format(time.DateOnly)
		}
		holes[i] = "{" + strings.Join(days, ",") + "}"
	}
	// The groups deleted and those written are apart: one statement.
	_, err := q.Exec(ctx, `WITH gone AS (
		    DELETE FROM percolate.delivered WHERE source = $1 AND (grp = ANY($7) OR $8 AND grp <> ALL($3))
		), set AS (
		    INSERT INTO percolate.delivered (source, grp, first, newest, holes)
		    SELECT $1, g, f, n, h::date[] FROM unnest($3::text[], $4::date[], $5::date[], $6::text[]) AS s (g, f, n, h)
		    ON CONFLICT (source, grp) DO UPDATE SET first = excluded.first, newest = excluded.newest, holes = excluded.holes
		)
		INSERT INTO percolate.delivered_marks (source, counted, watermark) VALUES ($1, $2, $9)
		ON CONFLICT (source) DO UPDATE SET counted = excluded.counted, watermark = excluded.watermark`,
		source, counted, groups, firsts, newests, holes, gone, whole, watermark)
	return wrap("record the delivered days", err)
}

// Gap is a day a group sent nothing for.
type Gap struct {
	Group string
	Day   time.Time
}

// Gaps returns, from the record of source's groups, those with a day
// before asOf, each with its first and newest day before asOf, and every
// day from its first (or since, when later) up to the day before asOf
// that it sent nothing for; a group of retired only up to its newest. By
// group, then day, as the database orders the groups' text.
func (Store) Gaps(ctx context.Context, q Querier, source string, asOf time.Time, since *time.Time, retired []string) ([]Delivered, []Gap, error) {
	rows, err := q.Query(ctx, `WITH g AS MATERIALIZED (
		    SELECT grp, first, newest AS recorded, holes, grp = ANY($4::text[]) AS retired,
		           CASE WHEN newest < $2::date THEN newest
		                ELSE (SELECT max(d)::date FROM generate_series(first, $2::date - 1, interval '1 day') AS d WHERE d::date <> ALL(holes)) END AS newest
		    FROM percolate.delivered WHERE source = $1 AND first < $2::date
		)
		SELECT true, grp, first, newest FROM g
		UNION ALL
		SELECT false, g.grp, h, NULL FROM g, unnest(g.holes) AS h
		WHERE h >= greatest(g.first, $3::date) AND h <= CASE WHEN g.retired THEN g.newest ELSE $2::date - 1 END
		UNION ALL
		-- After the recorded newest day: none (a day at or past asOf
		-- leaves the days before it to the holes).
		SELECT false, g.grp, s::date, NULL FROM g,
		    generate_series(greatest(g.recorded + 1, $3::date), CASE WHEN g.retired THEN g.newest ELSE $2::date - 1 END, interval '1 day') AS s
		ORDER BY 1 DESC, 2, 3`, source, asOf, since, retired)
	if err != nil {
		return nil, nil, wrap("find the missing days", err)
	}
	var groups []Delivered
	var gaps []Gap
	var isGroup bool
	var name string
	var d time.Time
	var newest *time.Time
	_, err = pgx.ForEachRow(rows, []any{&isGroup, &name, &d, &newest}, func() error {
		if isGroup {
			groups = append(groups, Delivered{Group: name, First: d, Newest: *newest})
		} else {
			gaps = append(gaps, Gap{Group: name, Day: d})
		}
		return nil
	})
	return groups, gaps, wrap("find the missing days", err)
}
