package ledger

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// SeedHashes returns the hash each seed was last loaded with, by name.
func (Store) SeedHashes(ctx context.Context, q Querier) (map[string]string, error) {
	return pairs(ctx, q, `SELECT name, hash FROM percolate.seeds`)
}

// RecordSeed notes that the seed name was loaded with the content hash,
// rows rows, by runID (0: by no run, e.g. a diff).
func (Store) RecordSeed(ctx context.Context, q Querier, name, hash string, rows int64, runID int64) error {
	var run *int64
	if runID != 0 {
		run = &runID
	}
	_, err := q.Exec(ctx, `INSERT INTO percolate.seeds (name, hash, rows, run_id) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO UPDATE SET hash = EXCLUDED.hash, rows = EXCLUDED.rows, run_id = EXCLUDED.run_id, loaded_at = now()`,
		name, hash, rows, run)
	return err
}

// FunctionVersions returns the version each project function was last
// created at, by name.
func (Store) FunctionVersions(ctx context.Context, q Querier) (map[string]string, error) {
	return pairs(ctx, q, `SELECT name, version FROM percolate.functions`)
}

// RecordFunction notes that the function name was created at version.
func (Store) RecordFunction(ctx context.Context, q Querier, name, version string) error {
	_, err := q.Exec(ctx, `INSERT INTO percolate.functions (name, version) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, created_at = now()`, name, version)
	return err
}

// Vars returns the vars percolate.var reads, by name.
func (Store) Vars(ctx context.Context, q Querier) (map[string]string, error) {
	return pairs(ctx, q, `SELECT name, value FROM percolate.vars`)
}

// SetVars makes vars the values percolate.var reads, and no others.
func (Store) SetVars(ctx context.Context, q Querier, vars map[string]string) error {
	names := make([]string, 0, len(vars))
	values := make([]string, 0, len(vars))
	for n, v := range vars {
		names, values = append(names, n), append(values, v)
	}
	_, err := q.Exec(ctx, `WITH gone AS (DELETE FROM percolate.vars WHERE name <> ALL($1::text[]))
		INSERT INTO percolate.vars (name, value) SELECT * FROM unnest($1::text[], $2::text[])
		ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value WHERE vars.value IS DISTINCT FROM EXCLUDED.value`, names, values)
	return err
}

// pairs reads a query of two text columns into a map.
func pairs(ctx context.Context, q Querier, sql string) (map[string]string, error) {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	var k, v string
	_, err = pgx.ForEachRow(rows, []any{&k, &v}, func() error {
		out[k] = v
		return nil
	})
	return out, err
}

// ForgetFunctions notes that the functions named were dropped.
func (Store) ForgetFunctions(ctx context.Context, q Querier, names []string) error {
	_, err := q.Exec(ctx, `DELETE FROM percolate.functions WHERE name = ANY($1)`, names)
	return err
}
