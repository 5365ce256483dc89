package build

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

// inPlace builds a step that is not built whole: the days of an
// incremental model, or a snapshot's new versions.
func inPlace(ctx context.Context, tx pgx.Tx, plan *Plan, s *Step, whole wholes) (int64, error) {
	if s.Model.Config.Materialized == dag.Snapshot {
		return snapshot(ctx, tx, plan, s.Model, whole)
	}
	return replaceDays(ctx, tx, plan, s, whole)
}

// planSnapshot makes a snapshot's step one that is applied in place, in
// the publish transaction: its history cannot be built again beside it,
// and --full-refresh applies it like any build, dropping nothing.
func planSnapshot(s *Step) {
	if s.Model.Config.Materialized == dag.Snapshot {
		s.Full = false
	}
}

// snapshot records what changed in m's rows since its last build: its
// SELECT's rows go into a temporary table; the current version (valid_to
// NULL) of each key whose row changed is closed and the row inserted as
// the new current version, a new key's row too, and, with hard_deletes:
// invalidate, the current version of a key no longer returned is closed.
// A row is changed when its updated_at is newer than the current
// version's (valid from it), or, with check_columns, when one of them
// differs (valid from the build's start). Built again on the same rows,
// it writes nothing. The first build creates the table, with a unique
// index on the key of the current versions.
func snapshot(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, whole wholes) (int64, error) {
	return snapshotInto(ctx, tx, plan, m, whole, m.Rel)
}

// diffBuild builds m for a diff into NAME__next: as a run builds it
// whole, or, for a snapshot, as a copy of its history with this build's
// versions recorded in it.
func diffBuild(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, whole wholes) (int64, error) {
	if m.Config.Materialized != dag.Snapshot {
		return materialize(ctx, tx, plan, m, whole)
	}
	next := pg.Ident(m.Schema, m.Rel+nextSuffix)
	if err := dropRelation(ctx, tx, m.Schema, m.Rel+nextSuffix, true); err != nil {
		return 0, err
	}
	live := pg.Ident(m.Schema, m.Rel)
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", live).Scan(&exists); err != nil {
		return 0, err
	}
	if exists { // else it is made new, beside nothing
		if _, err := tx.Exec(ctx, "CREATE TABLE "+next+" AS TABLE "+live); err != nil {
			return 0, err
		}
	}
	return snapshotInto(ctx, tx, plan, m, whole, m.Rel+nextSuffix)
}

// snapshotInto is snapshot, recorded in the table target of m's schema.
func snapshotInto(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, whole wholes, target string) (int64, error) {
	sc := m.Config.Snapshot
	sql, err := dag.Rewrite(m.Body(), whole.rename)
	if err != nil {
		return 0, &ModelError{Path: m.Path, Err: err}
	}
	sql = plan.bind(sql, "", "")
	rel, src := pg.Ident(m.Schema, target), pg.Ident("pg_temp", "percolate_snapshot_"+m.Schema+"_"+m.Rel)
	prefix := "CREATE TEMP TABLE " + src + " ON COMMIT DROP AS\n"
	if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+src); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, prefix+sql+"\n"); err != nil {
		return 0, ErrorAt(m, err, prefix, sql)
	}
	cols, err := columnsOf(ctx, tx, src)
	if err != nil {
		return 0, err
	}
	if err := snapshotKeyUnique(ctx, tx, m, src); err != nil {
		return 0, err
	}
	from := "now()"
	if sc.UpdatedAt != "" {
		from = "s." + pg.Ident(sc.UpdatedAt) + "::timestamptz"
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", rel).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		tag, err := tx.Exec(ctx, fmt.Sprintf("CREATE TABLE %s AS SELECT s.*, %s AS %s, NULL::timestamptz AS %s FROM %s AS s",
			rel, from, dag.ValidFrom, dag.ValidTo, src))
		if err != nil {
			return 0, &ModelError{Path: m.Path, Err: err}
		}
		_, err = tx.Exec(ctx, fmt.Sprintf("CREATE UNIQUE INDEX ON %s (%s) WHERE %s IS NULL", rel, identList(sc.Key, ""), dag.ValidTo))
		return tag.RowsAffected(), err
	}
	have, err := columnsOf(ctx, tx, rel)
	if err != nil {
		return 0, err
	}
	for _, c := range cols {
		if !slices.Contains(have, c) {
			return 0, &ModelError{Path: m.Path, Err: fmt.Errorf("column %s is new: a snapshot's history is not built again; add it to %s with a migration (ALTER TABLE … ADD COLUMN)", c, m.Name)}
		}
	}
	return applySnapshot(ctx, tx, m, snapshotRows{rel: rel, src: src, cols: cols, from: from})
}

// snapshotRows says where a snapshot's new rows are: the history rel,
// the table src holding the SELECT's rows with its columns cols, and from,
// the SQL of the time a new version is valid from.
type snapshotRows struct {
	rel, src, from string
	cols           []string
}

// applySnapshot closes the changed and (when declared) the deleted keys'
// current versions and inserts the new ones; it returns the rows written.
func applySnapshot(ctx context.Context, tx pgx.Tx, m *dag.Model, r snapshotRows) (int64, error) {
	rel, src, cols, from := r.rel, r.src, r.cols, r.from
	sc := m.Config.Snapshot
	var match []string
	for _, k := range sc.Key {
		match = append(match, fmt.Sprintf("t.%s = s.%s", pg.Ident(k), pg.Ident(k)))
	}
	same := strings.Join(match, " AND ")
	changed := fmt.Sprintf("s.%s > t.%s", pg.Ident(sc.UpdatedAt), pg.Ident(sc.UpdatedAt))
	if sc.UpdatedAt == "" {
		changed = fmt.Sprintf("(%s) IS DISTINCT FROM (%s)", identList(sc.CheckColumns, "t."), identList(sc.CheckColumns, "s."))
		if len(sc.CheckColumns) == 1 {
			changed = fmt.Sprintf("%s IS DISTINCT FROM %s", identList(sc.CheckColumns, "t."), identList(sc.CheckColumns, "s."))
		}
	}
	stmts := []string{
		fmt.Sprintf("UPDATE %s AS t SET %s = %s FROM %s AS s WHERE t.%s IS NULL AND %s AND %s",
			rel, dag.ValidTo, from, src, dag.ValidTo, same, changed),
	}
	if sc.HardDeletes {
		stmts = append(stmts, fmt.Sprintf("UPDATE %s AS t SET %s = now() WHERE t.%s IS NULL AND NOT EXISTS (SELECT FROM %s AS s WHERE %s)",
			rel, dag.ValidTo, dag.ValidTo, src, same))
	}
	stmts = append(stmts, fmt.Sprintf("INSERT INTO %s (%s, %s, %s) SELECT %s, %s, NULL FROM %s AS s WHERE NOT EXISTS (SELECT FROM %s AS t WHERE t.%s IS NULL AND %s)",
		rel, identList(cols, ""), dag.ValidFrom, dag.ValidTo, identList(cols, "s."), from, src, rel, dag.ValidTo, same))
	var rows int64
	for _, st := range stmts {
		tag, err := tx.Exec(ctx, st)
		if err != nil {
			return 0, &ModelError{Path: m.Path, Err: err}
		}
		rows += tag.RowsAffected()
	}
	_, err := tx.Exec(ctx, "DROP TABLE "+src)
	return rows, err
}

// snapshotKeyUnique fails a snapshot whose SELECT returns a key twice:
// which row would be its current version?
func snapshotKeyUnique(ctx context.Context, tx pgx.Tx, m *dag.Model, src string) error {
	sc := m.Config.Snapshot
	var dup string
	err := tx.QueryRow(ctx, fmt.Sprintf("SELECT concat_ws(', ', %s) FROM %s GROUP BY %s HAVING count(*) > 1 LIMIT 1",
		identList(sc.Key, ""), src, identList(sc.Key, ""))).Scan(&dup)
	if err == pgx.ErrNoRows {
		return nil
	}
	if err != nil {
		return err
	}
	line := 0
	for i, l := range strings.Split(m.SQL, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "-- key:") {
			line = i + 1
			break
		}
	}
	return &ModelError{Path: m.Path, Line: line, Err: fmt.Errorf("key (%s) is not unique: (%s) is returned more than once", strings.Join(sc.Key, ", "), dup)}
}

// columnsOf names the columns of rel.
func columnsOf(ctx context.Context, tx pgx.Tx, rel string) ([]string, error) {
	cols, err := pg.Columns(ctx, tx, rel)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names, err
}

// identList quotes names, each after prefix, parted by commas.
func identList(names []string, prefix string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + pg.Ident(n)
	}
	return strings.Join(out, ", ")
}
