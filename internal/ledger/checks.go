package ledger

import (
	"context"
	"encoding/json"
)

// Check is one check run on a model, with a sample of its failing rows.
type Check struct {
	Model    string            `json:"model"`
	Name     string            `json:"check"`
	Severity string            `json:"severity"`
	Failures int64             `json:"failures"`
	Sample   []json.RawMessage `json:"sample"`
}

// RecordChecks records check results; runID 0 is a check run outside a
// run (percolate test).
func (Store) RecordChecks(ctx context.Context, q Querier, runID int64, checks []Check) error {
	for _, c := range checks {
		if c.Sample == nil {
			c.Sample = []json.RawMessage{}
		}
		sample, err := json.Marshal(c.Sample)
		if err != nil {
			return wrap("record checks", err)
		}
		if _, err := q.Exec(ctx, `INSERT INTO percolate.check_results (run_id, model, check_name, severity, failures, sample)
			VALUES (NULLIF($1, 0), $2, $3, $4, $5, $6)`, runID, c.Model, c.Name, c.Severity, c.Failures, sample); err != nil {
			return wrap("record checks", err)
		}
	}
	return nil
}

// CheckVersions returns, by model, the fingerprints of the checks its
// published relation was last checked with (see RecordCheckVersions). It
// returns an empty map on a ledger that predates them: plan reads the
// ledger before a run applies the migration that adds them.
func (Store) CheckVersions(ctx context.Context, q Querier) (map[string][]string, error) {
	out := map[string][]string{}
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('percolate.check_versions') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return out, wrap("read check versions", err)
	}
	rows, err := q.Query(ctx, `SELECT model, version FROM percolate.check_versions ORDER BY model, version`)
	if err != nil {
		return nil, wrap("read check versions", err)
	}
	defer rows.Close()
	for rows.Next() {
		var model, version string
		if err := rows.Scan(&model, &version); err != nil {
			return nil, wrap("read check versions", err)
		}
		out[model] = append(out[model], version)
	}
	return out, rows.Err()
}

// RecordCheckVersions records that run runID checked model's relation
// with the checks of these fingerprints, and forgets any other.
func (Store) RecordCheckVersions(ctx context.Context, q Querier, runID int64, model string, versions []string) error {
	if versions == nil {
		versions = []string{}
	}
	if _, err := q.Exec(ctx, `DELETE FROM percolate.check_versions WHERE model = $1 AND version <> ALL($2)`, model, versions); err != nil {
		return wrap("record check versions", err)
	}
	_, err := q.Exec(ctx, `INSERT INTO percolate.check_versions (model, version, run_id)
		SELECT $1, unnest($2::text[]), NULLIF($3, 0)
		ON CONFLICT (model, version) DO UPDATE SET run_id = EXCLUDED.run_id, checked_at = now()`, model, versions, runID)
	return wrap("record check versions", err)
}
