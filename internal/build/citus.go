package build

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// On Citus, the build follows what a distributed engine wants (measured on
// Citus 13.2.2, see DESIGN.md § Scale):
//
//   - a table is made empty, distributed while empty (by the model's
//     distributed_by column, co-located with the tables sharded by a column
//     of that type; or as a reference table), and only then filled with
//     INSERT … SELECT, which the workers run shard by shard (CREATE TABLE
//     AS would funnel every row through the coordinator), and indexed;
//   - a day is replaced under an ACCESS EXCLUSIVE lock on the table, taken
//     first in the publish transaction: without it a reader on another
//     shard could see the day half replaced;
//   - every build transaction runs its multi-shard statements over one
//     connection per worker (citus.multi_shard_modify_mode sequential),
//     since it runs DDL (indexes, the swap) after them;
//   - the bounds of the days being built are written into the SQL as
//     constants (as on plain PostgreSQL, see bind): the workers could not
//     read the coordinator's settings.
//
// On plain PostgreSQL none of this applies and nothing changes.

// bind writes the interval bounds into sql as constants ("" for an open
// bound). percolate.interval_start() and interval_end() are what a model
// says; as functions they read a setting per row (on a year's 2.7 million
// items, 1.4 s of the product mart's 4.7 s) and hide the days from the
// planner; on Citus the workers could not read the setting at all.
func (p *Plan) bind(sql, start, end string) string { return Bind(sql, start, end) }

// Bind is bind for those outside a build: what a build of days [start,
// end) executes ("" for an open bound).
func Bind(sql, start, end string) string {
	lit := func(d, open string) string {
		if d == "" {
			return "'" + open + "'::date"
		}
		return "'" + d + "'::date"
	}
	sql = strings.ReplaceAll(sql, "percolate.interval_start()", lit(start, "-infinity"))
	return strings.ReplaceAll(sql, "percolate.interval_end()", lit(end, "infinity"))
}

// distribute makes the empty table rel distributed as m declares, on Citus.
func distribute(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, rel string) error {
	var err error
	switch {
	case m.Config.DistributedBy != "":
		err = plan.Engine.Distribute(ctx, tx, rel, m.Config.DistributedBy)
	case m.Config.Reference:
		err = plan.Engine.Reference(ctx, tx, rel)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", m.Path, err)
	}
	return nil
}

// fill builds a table the Citus way: empty, distributed, filled by INSERT
// … SELECT, then indexed.
func fill(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, next, sql string) (int64, error) {
	prefix := "CREATE TABLE " + next + " AS\n"
	if _, err := tx.Exec(ctx, prefix+sql+"\nWITH NO DATA"); err != nil {
		return 0, ErrorAt(m, err, prefix, sql)
	}
	if err := distribute(ctx, tx, plan, m, next); err != nil {
		return 0, err
	}
	prefix = "INSERT INTO " + next + "\n"
	tag, err := tx.Exec(ctx, prefix+sql+"\n")
	if err != nil {
		return 0, ErrorAt(m, err, prefix, sql)
	}
	// Indexed after the rows, each shard's index in one pass, as on plain
	// PostgreSQL: a year's items inserted into a shard with its three
	// indexes there already took 16 s of which 13 s kept the indexes.
	if err := index(ctx, tx, plan, m, m.Rel+nextSuffix); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// mostCandidates is the most repeated hashes a unique check on Citus is
// narrowed to; more, and the check reads the whole table as it would have.
const mostCandidates = 10_000

// uniqueCandidates narrows, on Citus, a unique check whose columns do not
// hold the model's distribution column to the rows whose columns hash (64
// bits) to a repeated value. No index can keep such a key on the shards,
// so the check groups every row on the coordinator: grouped as text, each
// shard sorted and sent its keys (10 s of the year's orders, their
// one-server time nothing, the unique index holding it); grouped as
// integers, half the time. Rows with equal columns have equal hashes, so
// the exact check, on the rows of a repeated hash alone, finds every
// repeat: none, and it reads nothing, when the check passes. rel is the
// model's relation, whose columns' types choose the hash (see keyHash).
func uniqueCandidates(ctx context.Context, q ledger.Querier, plan *Plan, m *dag.Model, c *dag.Check, rel, from string) (string, error) {
	dist := m.Config.DistributedBy
	if c.Kind != "unique" || !plan.Engine.IsCitus() || dist == "" || slices.Contains(c.Columns(), dist) {
		return from, nil
	}
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("%s:%d: check %s: %w", m.Path, c.Line, c.Name, pg.Explain(err))
	}
	hash, err := keyHash(ctx, q, rel, c.Columns())
	if err != nil {
		return fail(err)
	}
	var repeated []int64
	err = q.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(array_agg(h), '{}') FROM (SELECT %s AS h FROM %s AS c GROUP BY 1 HAVING count(*) > 1) AS r`,
		hash, from)).Scan(&repeated)
	if err != nil {
		return fail(err)
	}
	if len(repeated) > mostCandidates {
		return from, nil
	}
	list := make([]string, len(repeated))
	for i, h := range repeated {
		list[i] = strconv.FormatInt(h, 10)
	}
	return fmt.Sprintf("(SELECT * FROM %s AS c WHERE %s = ANY('{%s}'::bigint[]))", from, hash, strings.Join(list, ",")), nil
}

// keyHash is the 64-bit hash of the columns cols of c, a row of rel.
// Where every column's type has a hash function of its own (a default
// hash operator class, a domain's by its base type, varchar's by text's),
// they are hashed as they are (hash_record_extended): on a shard of the
// year's items, 0.7 s where hashing their text took 1.7 s, most of it
// spent writing each uuid as text. Any other type (an array, an enum, a
// type without hashing) makes the row hashed as its text.
func keyHash(ctx context.Context, q ledger.Querier, rel string, cols []string) (string, error) {
	var hashable bool
	err := q.QueryRow(ctx, `SELECT count(*) = cardinality($2::text[]) FROM pg_attribute AS a
		JOIN pg_type AS t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attname = ANY($2) AND NOT a.attisdropped
		  AND EXISTS (SELECT FROM pg_opclass AS o JOIN pg_am AS am ON am.oid = o.opcmethod
		              WHERE am.amname = 'hash' AND o.opcdefault
		                AND (o.opcintype = coalesce(nullif(t.typbasetype, 0), t.oid)
		                     OR EXISTS (SELECT FROM pg_cast WHERE castsource = coalesce(nullif(t.typbasetype, 0), t.oid)
		                                AND casttarget = o.opcintype AND castmethod = 'b')))`,
		rel, cols).Scan(&hashable)
	if err != nil {
		return "", err
	}
	row := make([]string, len(cols))
	for i, col := range cols {
		row[i] = "c." + pg.Ident(col)
	}
	if hashable {
		return fmt.Sprintf("hash_record_extended(ROW(%s), 0)", strings.Join(row, ", ")), nil
	}
	return fmt.Sprintf("hashtextextended(ROW(%s)::text, 0)", strings.Join(row, ", ")), nil
}
