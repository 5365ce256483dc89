package seed

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/warehouse"
)

// Status is what a run does, or would do, with one seed, and why.
type Status struct {
	Seed   string `json:"seed"`
	Path   string `json:"file"`
	Rows   int    `json:"rows"`
	Load   bool   `json:"load"`
	Reason string `json:"reason"`
}

// Plan says which seeds a run would load: those never loaded, whose
// content changed since, or whose table is gone.
func Plan(ctx context.Context, q ledger.Querier, seeds []*Seed) ([]Status, error) {
	var book ledger.Store
	loaded, err := book.SeedHashes(ctx, q)
	if err != nil {
		return nil, err
	}
	out := []Status{}
	for _, s := range seeds {
		st := Status{Seed: s.Name, Path: s.Path, Rows: len(s.Rows), Load: true}
		var exists bool
		if err := q.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pg.Ident(s.Schema, s.Rel)).Scan(&exists); err != nil {
			return nil, err
		}
		was, ok := loaded[s.Name]
		switch {
		case !ok:
			st.Reason = "new seed"
		case was != s.Hash:
			st.Reason = fmt.Sprintf("changed (content %s → %s)", was, s.Hash)
		case !exists:
			st.Reason = "table missing"
		default:
			st.Load, st.Reason = false, "unchanged"
		}
		out = append(out, st)
	}
	return out, nil
}

// Changed returns the seeds Plan says a run would load.
func Changed(ctx context.Context, q ledger.Querier, seeds []*Seed) ([]*Seed, error) {
	todo, err := Plan(ctx, q, seeds)
	if err != nil {
		return nil, err
	}
	var out []*Seed
	for i, st := range todo {
		if st.Load {
			out = append(out, seeds[i])
		}
	}
	return out, nil
}

// Load loads the seeds Plan says to, each in a transaction of its own
// that also records it in the ledger, under runID.
func Load(ctx context.Context, pool *pgxpool.Pool, eng *warehouse.Engine, seeds []*Seed, runID int64) ([]Status, error) {
	plan, err := Plan(ctx, pool, seeds)
	if err != nil {
		return nil, err
	}
	for i, st := range plan {
		if !st.Load {
			if err := dropLeftover(ctx, pool, seeds[i]); err != nil {
				return plan, fmt.Errorf("seed %s: %w", st.Seed, pg.Explain(err))
			}
			continue
		}
		if err := loadOne(ctx, pool, eng, seeds[i], runID); err != nil {
			return plan, fmt.Errorf("seed %s: %w", st.Seed, pg.Explain(err))
		}
	}
	return plan, nil
}

// dropLeftover drops the new rows a killed diff (Stage) or load left
// beside the seed's table; a load drops them before it begins.
func dropLeftover(ctx context.Context, pool *pgxpool.Pool, s *Seed) error {
	_, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+pg.Ident(s.Schema, s.Rel+NextSuffix))
	return err
}

// loadOne replaces a seed's table with its file's rows. The rows go into a
// table beside it first; when the columns are the same, the live table's
// rows are then replaced (readers see the old rows or the new); else the
// new table takes its place, and the views reading the old one go with it
// (the build that follows makes the models among them again).
func loadOne(ctx context.Context, pool *pgxpool.Pool, eng *warehouse.Engine, s *Seed, runID int64) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	next := s.Rel + NextSuffix
	if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pg.Ident(s.Schema, next)); err != nil {
		return err
	}
	rows, err := Fill(ctx, tx, s, next)
	if err != nil {
		return err
	}
	live, nextID := pg.Ident(s.Schema, s.Rel), pg.Ident(s.Schema, next)
	var same bool
	if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL AND
		(SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped) =
		(SELECT array_agg(attname || ' ' || format_type(atttypid, atttypmod) ORDER BY attnum) FROM pg_attribute
		 WHERE attrelid = to_regclass($2) AND attnum > 0 AND NOT attisdropped)`, live, nextID).Scan(&same); err != nil {
		return err
	}
	if same {
		_, err = tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s; INSERT INTO %s SELECT * FROM %s; DROP TABLE %s", live, live, nextID, nextID))
	} else {
		_, err = tx.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s CASCADE; ALTER TABLE %s RENAME TO %s", live, nextID, pg.Ident(s.Rel)))
	}
	if err != nil {
		return err
	}
	if !same {
		// A reference table on Citus, a copy on every node, so that
		// distributed models join it where their shards are.
		if err := eng.Reference(ctx, tx, live); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, "GRANT SELECT ON "+live+" TO "+pg.Ident(pg.ModelsRole)); err != nil {
		return err
	}
	if s.Description != "" {
		if _, err := tx.Exec(ctx, "COMMENT ON TABLE "+live+" IS "+pg.Literal(s.Description)); err != nil {
			return err
		}
	}
	var book ledger.Store
	if err := book.RecordSeed(ctx, tx, s.Name, s.Hash, rows, runID); err != nil {
		return err
	}
	return pg.Commit(ctx, tx)
}

// Fill creates the table rel in the seed's schema, of the seed's columns,
// with its rows, and a unique index on its key: what a diff compares with
// the live seed, and what a load puts in its place.
func Fill(ctx context.Context, q ledger.Querier, s *Seed, rel string) (int64, error) {
	table := pg.Ident(s.Schema, rel)
	var defs, casts, names []string
	args := make([]any, len(s.Columns))
	for i, c := range s.Columns {
		defs = append(defs, pg.Ident(c.Name)+" "+c.Type)
		names = append(names, pg.Ident(c.Name))
		casts = append(casts, fmt.Sprintf("%s::%s", pg.Ident(c.Name), c.Type))
		vals := make([]*string, len(s.Rows))
		for j, r := range s.Rows {
			if r[i] != "" {
				vals[j] = &r[i]
			}
		}
		args[i] = vals
	}
	if _, err := q.Exec(ctx, "CREATE TABLE "+table+" ("+strings.Join(defs, ", ")+")"); err != nil {
		return 0, err
	}
	arrays := make([]string, len(s.Columns))
	for i := range arrays {
		arrays[i] = fmt.Sprintf("$%d::text[]", i+1)
	}
	tag, err := q.Exec(ctx, fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM unnest(%s) AS u(%s)",
		table, strings.Join(names, ", "), strings.Join(casts, ", "), strings.Join(arrays, ", "), strings.Join(names, ", ")), args...)
	if err != nil {
		return 0, err
	}
	if len(s.Key) > 0 {
		keys := make([]string, len(s.Key))
		for i, k := range s.Key {
			keys[i] = pg.Ident(k)
		}
		if _, err := q.Exec(ctx, "CREATE UNIQUE INDEX ON "+table+" ("+strings.Join(keys, ", ")+")"); err != nil {
			return 0, err
		}
	}
	return tag.RowsAffected(), nil
}
