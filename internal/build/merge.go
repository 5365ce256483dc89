package build

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

// mergeDays replaces the days [start, end) of a keyed incremental model by
// merging them: its SQL runs once, and only the rows whose key is new,
// gone or whose values changed are written; a row that comes out as it is
// stays as it is. Days sent again with nothing new in them (a branch
// re-sending history) then write nothing, and the key's index and the
// others are not churned: deleting and inserting a year's rows again cost
// more than building them did. Returns the rows the days now hold.
//
// One statement: the deletes run to completion before the first insert
// (the insert waits for their count), so a changed row's new version does
// not meet its old one in the key's index; both see the table as it was,
// so a row is inserted unless an equal one (by =, column by column) was
// there.
func mergeDays(ctx context.Context, tx pgx.Tx, m *dag.Model, sql, start, end string) (int64, error) {
	rel := pg.Ident(m.Schema, m.Rel)
	cols, err := columnsOf(ctx, tx, m.Schema, m.Rel)
	if err != nil {
		return 0, err
	}
	tc := pg.Ident(m.Config.TimeColumn)
	days := fmt.Sprintf("%%[1]s.%s >= '%s' AND %%[1]s.%s < '%s'", tc, start, tc, end)
	same := func(a, b string) string {
		var on, left, right []string
		for _, k := range m.Config.Key {
			on = append(on, fmt.Sprintf("%s.%s = %s.%s", a, pg.Ident(k), b, pg.Ident(k)))
		}
		for _, c := range cols {
			left, right = append(left, a+"."+pg.Ident(c)), append(right, b+"."+pg.Ident(c))
		}
		return fmt.Sprintf("%s AND (%s) IS NOT DISTINCT FROM (%s)", strings.Join(on, " AND "), strings.Join(left, ", "), strings.Join(right, ", "))
	}
	prefix := "WITH n AS MATERIALIZED (SELECT * FROM (\n"
	stmt := prefix + sql + "\n) AS m WHERE " + fmt.Sprintf(days, "m") + `),
gone AS (DELETE FROM ` + rel + ` AS t WHERE ` + fmt.Sprintf(days, "t") + ` AND NOT EXISTS (SELECT FROM n WHERE ` + same("n", "t") + `) RETURNING 1),
added AS (INSERT INTO ` + rel + ` SELECT * FROM n WHERE (SELECT count(*) FROM gone) >= 0
    AND NOT EXISTS (SELECT FROM ` + rel + ` AS t WHERE ` + fmt.Sprintf(days, "t") + ` AND ` + same("t", "n") + `) RETURNING 1)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM added), (SELECT count(*) FROM n)`
	var gone, added, rows int64
	if err := tx.QueryRow(ctx, stmt).Scan(&gone, &added, &rows); err != nil {
		if isUniqueViolation(err) {
			return 0, keyError(m, err)
		}
		return 0, ErrorAt(m, err, prefix, sql)
	}
	return rows, nil
}

// columnsOf names a table's columns in order.
func columnsOf(ctx context.Context, tx pgx.Tx, schema, rel string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT attname::text FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, pg.Ident(schema, rel))
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", pg.Ident(schema, rel), err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", pg.Ident(schema, rel), err)
	}
	return cols, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
