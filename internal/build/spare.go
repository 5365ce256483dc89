package build

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// Spare tables. On Citus a table made anew has a fixed cost that a small
// model's whole build does not: create_distributed_table of the empty
// table 34–175 ms on 8 shards (each shard made on its worker, the metadata
// synced to every node), and its DROP when it is replaced 28–36 ms, where
// the year's marts.hourly_sales builds in 0.12–0.17 s on one server. So a
// distributed or reference model's table, replaced at a publish, is not
// dropped but emptied and kept, as its spare, in schema spareSchema; the
// next whole build of the model takes it back, as its NAME__next, when it
// is what a table made anew would be (see reuse), and fills it again: a
// move, a rename and a TRUNCATE of 2–7 ms each. The spare keeps its
// comments, so the publish writes only those that changed. The schema is
// not the readers': they see no spare. On plain PostgreSQL
// none of this applies (a table is made in one CREATE TABLE AS).

// spareSchema holds the spares; the models' role may use it and create in
// it (to move its tables in), no one else.
const spareSchema = pg.SpareSchema

// spareName is the name of m's spare in spareSchema: its qualified name,
// which no other model has.
func spareName(m *dag.Model) string { return m.Schema + "." + m.Rel }

// keeps reports whether m's table is kept as a spare when a publish
// replaces it: on Citus, a table distributed or copied to every node whose
// spare's name fits an identifier.
func (p *Plan) keeps(m *dag.Model) bool {
	return p.Engine.IsCitus() && m.Config.Materialized != dag.View && m.Config.Materialized != dag.Snapshot &&
		(m.Config.DistributedBy != "" || m.Config.Reference) && len(spareName(m)) <= 63
}

// reuse takes back m's spare as next, the table a whole build fills, when
// it is what a table made anew would be: the columns of next, which has
// just been made empty from the model's SQL, the same owner and
// privileges (those granted by default today), nothing added by hand (row
// security, policies, triggers, constraints, indexes, defaults, storage
// options), and distributed as m says. next is then dropped and the spare
// takes its place. A spare that does not fit is dropped. It reports
// whether the spare was taken; when not, next is left to be distributed.
// Where the models' role may not use spareSchema, nothing is kept.
func reuse(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, next string) (bool, error) {
	if !plan.keeps(m) {
		return false, nil
	}
	var usable bool
	if err := tx.QueryRow(ctx, "SELECT coalesce(has_schema_privilege(to_regnamespace($1), 'USAGE, CREATE'), false)", spareSchema).Scan(&usable); err != nil || !usable {
		return false, spareError(m, "read", err)
	}
	spare := pg.Ident(spareSchema, spareName(m))
	var found, same bool
	err := tx.QueryRow(ctx, spareFits, spare, next).Scan(&found, &same)
	if err != nil || !found {
		return false, spareError(m, "read", err)
	}
	if same {
		if same, err = plan.Engine.Shaped(ctx, tx, spare, m.Config.DistributedBy); err != nil {
			return false, spareError(m, "read", err)
		}
	}
	if !same {
		// Made for an earlier version of the model, or changed by hand:
		// made anew.
		_, err := tx.Exec(ctx, "DROP TABLE "+spare)
		return false, spareError(m, "drop", err)
	}
	for _, stmt := range []string{
		"DROP TABLE " + next,
		fmt.Sprintf("ALTER TABLE %s SET SCHEMA %s", spare, pg.Ident(m.Schema)),
		fmt.Sprintf("ALTER TABLE %s RENAME TO %s", pg.Ident(m.Schema, spareName(m)), pg.Ident(m.Rel+nextSuffix)),
	} {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return false, spareError(m, "take back", err)
		}
	}
	return true, nil
}

// spareFits says whether the spare $1 exists, and whether it is what the
// table $2, made anew, is (see reuse): the same owner, privileges and
// columns, and neither has anything added (a table made anew has none).
const spareFits = `WITH t (rel, made) AS (VALUES (to_regclass($1), false), (to_regclass($2), true))
	SELECT count(*) FILTER (WHERE NOT made) > 0,
	       count(DISTINCT shape) = 1 AND coalesce(bool_and(NOT added), false) FROM (
	    SELECT made, (c.relowner, c.relacl, (
	               SELECT string_agg(format('%I %s %s %s', attname, atttypid, atttypmod, attcollation), ', ' ORDER BY attnum)
	               FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped))::text AS shape,
	           c.reloptions IS NOT NULL OR c.relrowsecurity
	           OR EXISTS (SELECT FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped AND (attnotnull OR atthasdef OR attstattarget >= 0))
	           OR EXISTS (SELECT FROM pg_index WHERE indrelid = c.oid)
	           OR EXISTS (SELECT FROM pg_constraint WHERE conrelid = c.oid)
	           OR EXISTS (SELECT FROM pg_trigger WHERE tgrelid = c.oid AND NOT tgisinternal)
	           OR EXISTS (SELECT FROM pg_policy WHERE polrelid = c.oid) AS added
	    FROM t JOIN pg_class AS c ON c.oid = t.rel) AS s`

// spareError is err, when there is one, saying what became of m's spare.
func spareError(m *dag.Model, what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s its spare table %s: %w", m.Path, what, pg.Ident(spareSchema, spareName(m)), pg.Explain(err))
}

// park moves m's live table, which a publish is about to replace, into
// spareSchema as its spare, without its indexes (every index name there
// must be unique, and the next build makes them after the rows), and
// reports whether it did; the caller empties it (emptySpares). It does
// not when the table is not distributed or a reference table, or other
// objects depend on it or on its row type (a view or a function the
// models do not make, a foreign key, a publication), which the caller's
// DROP then names, as on one server.
func park(ctx context.Context, tx pgx.Tx, m *dag.Model) (bool, error) {
	live := pg.Ident(m.Schema, m.Rel)
	var parkable bool
	var indexes []string
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = c.oid)
		AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.refobjid IN (c.oid, c.reltype) AND d.deptype = 'n'
		                AND d.refclassid IN ('pg_class'::regclass, 'pg_type'::regclass))
		AND NOT EXISTS (SELECT FROM pg_publication_rel WHERE prrelid = c.oid),
		coalesce((SELECT array_agg(indexrelid::regclass::text) FROM pg_index WHERE indrelid = c.oid), '{}')
		FROM pg_class c WHERE c.oid = to_regclass($1) AND c.relkind = 'r'`, live).Scan(&parkable, &indexes)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && !parkable {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// A spare left from a build that did not take it back (a publish that
	// went by an earlier version of this code, or by hand) makes way.
	if err := dropRelation(ctx, tx, spareSchema, spareName(m), false); err != nil {
		return false, err
	}
	// One statement an index (Citus drops no more than one distributed
	// index in a statement), then the move.
	var stmts []string
	for _, ix := range indexes {
		stmts = append(stmts, "DROP INDEX "+ix)
	}
	stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", live, pg.Ident(spareName(m))),
		fmt.Sprintf("ALTER TABLE %s SET SCHEMA %s", pg.Ident(m.Schema, spareName(m)), pg.Ident(spareSchema)))
	for _, stmt := range stmts {
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return false, err
		}
	}
	return true, nil
}

// emptySpares empties the tables park moved, in one statement.
func emptySpares(ctx context.Context, tx pgx.Tx, parked []*dag.Model) error {
	if len(parked) == 0 {
		return nil
	}
	names := make([]string, len(parked))
	for i, m := range parked {
		names[i] = pg.Ident(spareSchema, spareName(m))
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
		return contention(fmt.Errorf("publish: empty the spare tables: %w", pg.Explain(err)), "", false)
	}
	return nil
}

// makeSpareSchema makes spareSchema, as the role percolate connected as,
// when a publish may park a table and it is missing, and reports whether
// tables may be parked there: not when the role may not create the schema
// (a warehouse whose schemas an administrator made), nor when the models'
// role may not use it; then every replaced table is dropped, as before
// spares. It is made in a transaction of its own, committed before the
// publish begins: Citus makes a schema on the workers too only in a
// transaction that has run no multi-shard statement yet, and the publish
// has replaced days on every shard by then (a table moved into a schema
// made there failed on the workers: schema does not exist).
func makeSpareSchema(ctx context.Context, pool *pgxpool.Pool, plan *Plan, g *dag.Graph, building wholes) (bool, error) {
	need := false
	for _, m := range g.Models {
		need = need || building[m.Name] && plan.keeps(m)
	}
	if !need {
		return false, nil
	}
	fail := func(err error) (bool, error) {
		return false, fmt.Errorf("publish: schema %s for the spare tables: %w", spareSchema, pg.Explain(err))
	}
	var have, usable, may bool
	if err := pool.QueryRow(ctx, `SELECT to_regnamespace($1) IS NOT NULL,
		coalesce(has_schema_privilege($2, to_regnamespace($1), 'USAGE, CREATE'), false),
		has_database_privilege(session_user, current_database(), 'CREATE')`, spareSchema, pg.ModelsRole).Scan(&have, &usable, &may); err != nil {
		return fail(err)
	}
	if have || !may {
		return usable, nil
	}
	s := pg.Ident(spareSchema)
	// One statement, one implicit transaction: the schema and its grant.
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+s+"; GRANT USAGE, CREATE ON SCHEMA "+s+" TO "+pg.Ident(pg.ModelsRole)); err != nil {
		return fail(err)
	}
	return true, nil
}

// sweepSpares drops the spares no model of g would take back (a model
// removed, renamed, or no longer distributed).
func sweepSpares(ctx context.Context, q ledger.Querier, plan *Plan, g *dag.Graph) error {
	if !plan.Engine.IsCitus() {
		return nil
	}
	var want []string
	for _, m := range g.Models {
		if plan.keeps(m) {
			want = append(want, spareName(m))
		}
	}
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND c.relname <> ALL($2::text[])`, spareSchema, want)
	if err != nil {
		return fmt.Errorf("find the spare tables no model takes: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find the spare tables no model takes: %w", err)
	}
	for _, rel := range gone {
		if err := dropRelation(ctx, q, spareSchema, rel, false); err != nil {
			return fmt.Errorf("drop a spare table no model takes: %w", err)
		}
	}
	return nil
}
