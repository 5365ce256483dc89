package build

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

// sampleRows is how many failing rows a check keeps for the ledger and
// the message.
const sampleRows = 5

// CheckResult is one check run.
type CheckResult struct {
	Model    string            `json:"model"`
	Path     string            `json:"path"`
	Line     int               `json:"line"`
	Check    string            `json:"check"`
	Severity string            `json:"severity"`
	Failures int64             `json:"failures"`
	Sample   []json.RawMessage `json:"sample"`
}

// Failed returns the results that fail with severity error.
func Failed(results []CheckResult) []CheckResult {
	var out []CheckResult
	for _, r := range results {
		if r.Failures > 0 && r.Severity == dag.SeverityError {
			out = append(out, r)
		}
	}
	return out
}

func describeFailures(failed []CheckResult) string {
	var parts []string
	for _, r := range failed {
		s := fmt.Sprintf("%s:%d: %s %s: %d failing rows", r.Path, r.Line, r.Model, r.Check, r.Failures)
		if len(r.Sample) > 0 {
			s += ", e.g. " + string(r.Sample[0])
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// runChecks runs the checks of the models the plan builds against their
// new relations (name maps a relation to the one to read); an incremental
// model's checks read only the days rebuilt.
func runChecks(ctx context.Context, q Querier, plan *Plan, name func(string) string) ([]CheckResult, error) {
	var out []CheckResult
	for _, s := range plan.Steps {
		if !s.Build {
			continue
		}
		for _, c := range s.Model.Config.Checks {
			r, err := runCheck(ctx, q, s, c, name)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func runCheck(ctx context.Context, q Querier, s *Step, c *dag.Check, name func(string) string) (CheckResult, error) {
	m := s.Model
	r := CheckResult{Model: m.Name, Path: m.Path, Line: c.Line, Check: c.Name, Severity: c.Severity, Sample: []json.RawMessage{}}
	quoted := func(rel string) string {
		schema, n, _ := strings.Cut(name(rel), ".")
		return pg.Ident(schema, n)
	}
	from := quoted(m.Name)
	if !s.Full && len(s.Days) > 0 {
		from = fmt.Sprintf("(SELECT * FROM %s WHERE %s = ANY('{%s}'::date[]))", from, pg.Ident(m.Config.TimeColumn), strings.Join(s.Days, ","))
		// Custom checks can narrow themselves to the days built, as models do.
		end, _ := time.Parse(time.DateOnly, s.Days[len(s.Days)-1])
		if _, err := q.Exec(ctx, "SELECT set_config('percolate.interval_start', $1, true), set_config('percolate.interval_end', $2, true)",
			s.Days[0], end.AddDate(0, 0, 1).Format(time.DateOnly)); err != nil {
			return r, err
		}
		defer q.Exec(ctx, "SELECT set_config('percolate.interval_start', '', true), set_config('percolate.interval_end', '', true)")
	}
	sql := c.SQL(from, quoted)
	if c.Kind == "sql" {
		var err error
		if sql, err = dag.Rewrite(sql, func(rel string) (string, bool) { return name(rel), name(rel) != rel }); err != nil {
			return r, err
		}
	}
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT (SELECT count(*) FROM (%s) AS f), to_jsonb(f) FROM (%s) AS f LIMIT %d", sql, sql, sampleRows))
	if err != nil {
		return r, fmt.Errorf("%s:%d: check %s: %s", m.Path, c.Line, c.Name, pg.Describe(err))
	}
	defer rows.Close()
	for rows.Next() {
		var row json.RawMessage
		if err := rows.Scan(&r.Failures, &row); err != nil {
			return r, err
		}
		r.Sample = append(r.Sample, row)
	}
	return r, rows.Err()
}

func insertChecks(ctx context.Context, q Querier, runID int64, results []CheckResult) error {
	for _, r := range results {
		sample, _ := json.Marshal(r.Sample)
		if _, err := q.Exec(ctx, `INSERT INTO percolate.check_results (run_id, model, check_name, severity, failures, sample)
			VALUES (NULLIF($1, 0), $2, $3, $4, $5, $6)`, runID, r.Model, r.Check, r.Severity, r.Failures, sample); err != nil {
			return err
		}
	}
	return nil
}

// recordChecks writes results outside the build's transaction, which a
// failing check rolls back.
func recordChecks(pool *pgxpool.Pool, runID int64, results []CheckResult) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	insertChecks(ctx, pool, runID, results)
}

// Test runs the checks of the selected models against the published
// relations and records the results.
func Test(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, opt Options) ([]CheckResult, error) {
	state, err := State(ctx, pool, g)
	if err != nil {
		return nil, err
	}
	selected, err := g.Select(opt.Select, opt.Exclude, Modified(state))
	if err != nil {
		return nil, err
	}
	plan := &Plan{}
	for _, m := range selected {
		plan.Steps = append(plan.Steps, &Step{Model: m, Name: m.Name, Build: true, Full: true})
	}
	results, err := runChecks(ctx, pool, plan, func(rel string) string { return rel })
	if err != nil {
		return nil, err
	}
	return results, insertChecks(ctx, pool, 0, results)
}
