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
			return err
		}
		if _, err := q.Exec(ctx, `INSERT INTO percolate.check_results (run_id, model, check_name, severity, failures, sample)
			VALUES (NULLIF($1, 0), $2, $3, $4, $5, $6)`, runID, c.Model, c.Name, c.Severity, c.Failures, sample); err != nil {
			return err
		}
	}
	return nil
}
