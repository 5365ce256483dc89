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
	// A spare kept from the last build is filled again, or the empty
	// table is distributed.
	reused, err := reuse(ctx, tx, plan, m, next)
	if err != nil {
		return 0, err
	}
	if !reused {
		if err := distribute(ctx, tx, plan, m, next); err != nil {
			return 0, err
		}
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

// shardedUnique is, on Citus, a unique check of s's model whose columns
// leave out its distribution column but that the model's other checks let
// group by it too, so that each shard checks its own rows: none of its
// rows is sent to the coordinator. It is so when one of the columns, ref,
// is checked in this plan (error severity) to match, on the distribution
// column as well, a column of a model sharded alike whose values are known
// unique (see uniqueIn). Two rows with equal columns have equal refs, so
// match rows of the target with equal values: the same row, which has one
// distribution value, theirs. Were either check broken, it fails the
// build. Rows whose ref is NULL match nothing; they are checked across
// shards, as any unique check (the index on the columns finds them). The
// relationships check must read every row the unique check reads: on an
// incremental build, the days built, unless the unique check is new or
// edited and reads the whole table. The year's items: the key's check
// took 6–7 s of Citus's checks, each order id hashed and grouped on the
// coordinator.
func shardedUnique(plan *Plan, s *Step, c *dag.Check, from string) (string, bool) {
	m := s.Model
	if !acrossShards(plan, m, c) {
		return "", false
	}
	for _, rc := range matchesByShard(plan, m, c) {
		runs := s.Build || s.changed[rc]
		if !runs || (readsWhole(s, c) && !readsWhole(s, rc)) || !uniqueIn(plan, rc.Target(), rc.TargetColumn()) {
			continue
		}
		list, ref := identList(c.Columns(), ""), pg.Ident(rc.Columns()[0])
		return fmt.Sprintf(`SELECT %s, count(*) AS copies FROM %s AS c WHERE %s IS NOT NULL GROUP BY %s, %s HAVING count(*) > 1
UNION ALL
SELECT %s, count(*) AS copies FROM %s AS c WHERE %s IS NULL GROUP BY %s HAVING count(*) > 1`,
			list, from, ref, list, pg.Ident(m.Config.DistributedBy), list, from, ref, list), true
	}
	return "", false
}

// acrossShards reports whether, on Citus, c is a unique check of m whose
// repeats may lie on different shards: its columns leave out m's
// distribution column, so no index on a shard keeps it.
func acrossShards(plan *Plan, m *dag.Model, c *dag.Check) bool {
	dist := m.Config.DistributedBy
	return c.Kind == "unique" && plan.Engine.IsCitus() && dist != "" && !slices.Contains(c.Columns(), dist)
}

// matchesByShard lists m's relationships checks of error severity on one
// of c's columns that match on m's distribution column too.
func matchesByShard(plan *Plan, m *dag.Model, c *dag.Check) []*dag.Check {
	if m.Config.DistributedBy == "" {
		return nil
	}
	var out []*dag.Check
	for _, rc := range m.Config.Checks {
		if rc.Kind == "relationships" && rc.Severity == dag.SeverityError && slices.Contains(c.Columns(), rc.Columns()[0]) &&
			shardOf(plan, m, rc) == m.Config.DistributedBy {
			out = append(out, rc)
		}
	}
	return out
}

// readsWhole reports whether check c of step s reads its whole relation,
// as runCheck narrows it: not an incremental build's days alone.
func readsWhole(s *Step, c *dag.Check) bool { return s.Full || s.changed[c] || len(s.Days) == 0 }

// uniqueIn reports whether the values of column col of model name are
// known unique across the relation this plan publishes: held by its key's
// index, or checked whole in this plan by a unique check of error
// severity that runs exactly, not grouped by shard itself (two checks each
// trusting the other's would check nothing). An incremental model's
// unique check on the days built says nothing of the days before.
func uniqueIn(plan *Plan, name, col string) bool {
	t := plan.graph.Model(name)
	if t == nil {
		return false
	}
	if slices.Equal(t.Config.Key, []string{col}) && t.Config.KeyEnforced(plan.Engine.IsCitus()) {
		return true
	}
	s := plan.step(name)
	if s == nil {
		return false
	}
	for _, c := range t.Config.Checks {
		if c.Kind == "unique" && c.Severity == dag.SeverityError && slices.Equal(c.Columns(), []string{col}) &&
			(s.Build || s.changed[c]) && readsWhole(s, c) && len(matchesByShard(plan, t, c)) == 0 {
			return true
		}
	}
	return false
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
// model's relation, whose columns' types choose the hash (see keyHash);
// columns without one are checked whole.
func uniqueCandidates(ctx context.Context, q ledger.Querier, plan *Plan, m *dag.Model, c *dag.Check, rel, from string) (string, error) {
	if !acrossShards(plan, m, c) {
		return from, nil
	}
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("%s:%d: check %s: %w", m.Path, c.Line, c.Name, pg.Explain(err))
	}
	hash, err := keyHash(ctx, q, rel, c.Columns())
	if err != nil {
		return fail(err)
	}
	if hash == "" {
		return from, nil
	}
	var repeated []int64
	err = q.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(array_agg(h), '{}') FROM (SELECT %s AS h FROM %s AS c GROUP BY 1 HAVING count(*) > 1) AS r`,
		hash, from)).Scan(&repeated)
	if err != nil {
		return fail(err)
	}
	switch {
	case len(repeated) > mostCandidates:
		return from, nil
	case len(repeated) == 0:
		// The key holds: no row to read again (each one's hash, 0.7 s of
		// the year's orders, for nothing).
		return fmt.Sprintf("(SELECT * FROM %s AS c WHERE false)", from), nil
	}
	list := make([]string, len(repeated))
	for i, h := range repeated {
		list[i] = strconv.FormatInt(h, 10)
	}
	return fmt.Sprintf("(SELECT * FROM %s AS c WHERE %s = ANY('{%s}'::bigint[]))", from, hash, strings.Join(list, ",")), nil
}

// keyHash is the 64-bit hash of the columns cols of c, a row of rel, or
// "" when a column's type has no hashing consistent with its equality.
// Where every column's type has a hash function of its own (a default
// hash operator class with an extended hash function; a domain's by its
// base type, varchar's by text's, an array's by its element type's; an
// enum), they are hashed as they are (hash_record_extended), as equality
// sees them: 1.0 and 1.00 alike. On a shard of the year's items, 0.7 s
// where hashing their text took 1.7 s. Text is no hash for the rest: two
// equal values can be written differently ({1.0} and {1.00}), so such a
// check is not narrowed.
func keyHash(ctx context.Context, q ledger.Querier, rel string, cols []string) (string, error) {
	var hashable bool
	err := q.QueryRow(ctx, `WITH c AS (
		    SELECT t.typtype, coalesce(nullif(t.typbasetype, 0), t.oid) AS typ FROM pg_attribute AS a
		    JOIN pg_type AS t ON t.oid = a.atttypid
		    WHERE a.attrelid = $1::regclass AND a.attname = ANY($2) AND NOT a.attisdropped
		), e AS (
		    SELECT c.typtype, CASE WHEN b.typcategory = 'A' AND b.typelem <> 0 THEN b.typelem ELSE c.typ END AS typ
		    FROM c JOIN pg_type AS b ON b.oid = c.typ
		)
		SELECT count(*) = cardinality($2::text[]) FROM e
		WHERE e.typtype = 'e' OR EXISTS (
		    SELECT FROM pg_opclass AS o JOIN pg_am AS am ON am.oid = o.opcmethod
		    JOIN pg_amproc AS p ON p.amprocfamily = o.opcfamily AND p.amprocnum = 2
		    WHERE am.amname = 'hash' AND o.opcdefault
		      AND (o.opcintype = e.typ OR EXISTS (SELECT FROM pg_cast WHERE castsource = e.typ AND casttarget = o.opcintype AND castmethod = 'b')))`,
		rel, cols).Scan(&hashable)
	if err != nil || !hashable {
		return "", err
	}
	return fmt.Sprintf("hash_record_extended(ROW(%s), 0)", identList(cols, "c.")), nil
}
