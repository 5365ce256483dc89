package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// sampleRows is how many failing rows a check keeps for the ledger and
// the message.
const sampleRows = 5

// CheckResult is one check run, with where the check is declared.
type CheckResult struct {
	ledger.Check
	Path string `json:"path"`
	Line int    `json:"line"`
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
		s := fmt.Sprintf("%s:%d: %s %s: %d failing rows", r.Path, r.Line, r.Model, r.Name, r.Failures)
		if len(r.Sample) > 0 {
			s += ", e.g. " + string(r.Sample[0])
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// runChecks runs the checks of the models the plan builds against their
// new relations (name maps a relation to the one to read); an incremental
// model's checks read only the days rebuilt, but for those new or edited
// (Step.Checks), which read the whole relation, and run also when their
// model is not built.
func runChecks(ctx context.Context, q ledger.Querier, plan *Plan, name func(string) string) ([]CheckResult, error) {
	return runSomeChecks(ctx, q, plan, name, func(*Step, *dag.Check) bool { return true })
}

// runSomeChecks is runChecks for the checks keep keeps.
func runSomeChecks(ctx context.Context, q ledger.Querier, plan *Plan, name func(string) string, keep func(*Step, *dag.Check) bool) ([]CheckResult, error) {
	var out []CheckResult
	for _, s := range plan.Steps {
		if !s.Build && len(s.changed) == 0 {
			continue
		}
		for _, c := range s.Model.Config.Checks {
			if (!s.Build && !s.changed[c]) || !keep(s, c) {
				continue
			}
			r, err := runCheck(ctx, q, plan, s, c, name)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func runCheck(ctx context.Context, q ledger.Querier, plan *Plan, s *Step, c *dag.Check, name func(string) string) (r CheckResult, err error) {
	m := s.Model
	r = CheckResult{Check: ledger.Check{Model: m.Name, Name: c.Name, Severity: c.Severity, Sample: []json.RawMessage{}}, Path: m.Path, Line: c.Line}
	if c.Kind == "unique" && slices.Equal(c.Columns(), m.Config.Key) && m.Config.KeyEnforced(plan.Engine.IsCitus()) {
		// The key's unique index holds it: a build whose rows broke it
		// failed, naming the key. A scan would say so again, at the cost of
		// sorting every row of a whole build.
		return r, nil
	}
	quoted := func(rel string) string {
		schema, n, _ := strings.Cut(name(rel), ".")
		return pg.Ident(schema, n)
	}
	from := quoted(m.Name)
	var start, end string // the days built, for the interval functions
	if !readsWhole(s, c) {
		// Custom checks can narrow themselves to the days built, as models do.
		last, _ := time.Parse(time.DateOnly, s.Days[len(s.Days)-1])
		start, end = s.Days[0], last.AddDate(0, 0, 1).Format(time.DateOnly)
		// The range first: an index reads a range in one descent.
		tc := pg.Ident(m.Config.TimeColumn)
		from = fmt.Sprintf("(SELECT * FROM %s WHERE %s >= '%s' AND %s < '%s' AND %s = ANY('{%s}'::date[]))", from, tc, start, tc, end, tc, strings.Join(s.Days, ","))
		if err := setInterval(ctx, q, start, end); err != nil {
			return r, err
		}
		defer func() {
			if uerr := setInterval(ctx, q, "", ""); uerr != nil && err == nil {
				err = uerr
			}
		}()
	}
	sql, held := shardedUnique(plan, s, c, from)
	if !held {
		if from, err = uniqueCandidates(ctx, q, plan, m, c, quoted(m.Name), from); err != nil {
			return r, err
		}
		sql = c.SQLWithin(from, quoted, shardOf(plan, m, c))
	}
	if c.Kind == "sql" {
		if sql, err = dag.Rewrite(sql, func(rel string) (string, bool) { return name(rel), name(rel) != rel }); err != nil {
			return r, err
		}
		sql = plan.bind(sql, start, end)
	}
	if c.Kind == "relationships" && !s.Full && !s.changed[c] && len(s.Days) <= lookupDays {
		// A few days built look their references up by index, one by one:
		// hashing every order to check a night's items took 1.6 s of a
		// nightly run after a year. More days are hashed: a year of new
		// days, not in the statistics yet, looked 2.7 million items up one
		// by one in 13.6 s.
		if err := plan.Engine.SetLookups(ctx, q, true); err != nil {
			return r, err
		}
		defer func() {
			if uerr := plan.Engine.SetLookups(ctx, q, false); uerr != nil && err == nil {
				err = uerr
			}
		}()
	}
	// A passing check finds no row: one scan. Only a failing one is
	// counted whole, by a second query.
	fail := func(err error) (CheckResult, error) {
		return r, fmt.Errorf("%s:%d: check %s: %w", m.Path, c.Line, c.Name, pg.Explain(err))
	}
	rows, err := q.Query(ctx, fmt.Sprintf("SELECT to_jsonb(f) FROM (%s) AS f LIMIT %d", sql, sampleRows))
	if err != nil {
		return fail(err)
	}
	r.Sample, err = pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
	if err != nil {
		return fail(err)
	}
	r.Failures = int64(len(r.Sample))
	if r.Failures == sampleRows {
		if err := q.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (%s) AS f", sql)).Scan(&r.Failures); err != nil {
			return fail(err)
		}
	}
	return r, nil
}

// lookupDays is the most days built whose relationships checks look
// their references up by index rather than hash the referenced table.
const lookupDays = 7

// shardOf is the column a relationships check also joins on, on Citus:
// the one its model and its target are both sharded by (Citus joins two
// distributed tables on their distribution column only); "" elsewhere.
func shardOf(plan *Plan, m *dag.Model, c *dag.Check) string {
	if !plan.Engine.IsCitus() || c.Kind != "relationships" || m.Config.DistributedBy == "" || plan.graph == nil {
		return ""
	}
	if t := plan.graph.Model(c.Target()); t != nil && t.Config.DistributedBy == m.Config.DistributedBy {
		return m.Config.DistributedBy
	}
	return ""
}

func recordChecks(ctx context.Context, q ledger.Querier, runID int64, results []CheckResult) error {
	checks := make([]ledger.Check, len(results))
	for i, r := range results {
		checks[i] = r.Check
	}
	return ledger.Store{}.RecordChecks(ctx, q, runID, checks)
}

// checkVersion fingerprints a check's definition: its text, whitespace
// aside, and its severity; not its line, so moving a check changes
// nothing.
func checkVersion(c *dag.Check) string {
	h := sha256.Sum256([]byte(strings.Join(strings.Fields(c.Name), " ") + "\x00" + c.Severity))
	return hex.EncodeToString(h[:8])
}

// recordCheckVersions records, for every model the run built or checked,
// the checks its published relation is now checked with.
func recordCheckVersions(ctx context.Context, q ledger.Querier, plan *Plan, runID int64) error {
	for _, s := range plan.Steps {
		if !s.Build && len(s.changed) == 0 {
			continue
		}
		versions := make([]string, len(s.Model.Config.Checks))
		for i, c := range s.Model.Config.Checks {
			versions[i] = checkVersion(c)
		}
		if err := (ledger.Store{}).RecordCheckVersions(ctx, q, runID, s.Name, versions); err != nil {
			return fmt.Errorf("record the checks of %s: %w", s.Name, err)
		}
	}
	return nil
}

// Selected is the models opt selects, state:modified by the ledger.
func Selected(ctx context.Context, q ledger.Querier, g *dag.Graph, opt Options) ([]*dag.Model, error) {
	state, err := ledger.Store{}.LastBuilds(ctx, q)
	if err != nil {
		return nil, err
	}
	return g.Select(opt.Select, opt.Exclude, Modified(state))
}

// Test runs the checks of the selected models against the published
// relations and records the results.
func Test(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, opt Options) ([]CheckResult, error) {
	selected, err := Selected(ctx, pool, g, opt)
	if err != nil {
		return nil, err
	}
	engine, err := opt.engine(ctx, pool)
	if err != nil {
		return nil, err
	}
	plan := &Plan{graph: g, Engine: engine}
	for _, m := range selected {
		plan.Steps = append(plan.Steps, &Step{Model: m, Name: m.Name, Build: true, Full: true})
	}
	tx, err := begin(ctx, pool, plan) // as the models' role, read only: rolled back
	if err != nil {
		return nil, fmt.Errorf("run the checks: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	results, err := runChecks(ctx, tx, plan, func(rel string) string { return rel })
	if err != nil {
		return nil, err
	}
	return results, recordChecks(ctx, pool, 0, results)
}
