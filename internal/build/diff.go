package build

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/seed"
)

// ModelDiff is how a model built from the working copy differs from its
// live relation, row by row where it has a key.
type ModelDiff struct {
	Model string `json:"model"`
	// Key is the columns rows are matched by: the model's unique check.
	// Without one, rows are compared whole, and none is "changed".
	Key []string `json:"key"`
	// New says there is no live relation: every row is added.
	New        bool  `json:"new"`
	RowsBefore int64 `json:"rows_before"`
	RowsAfter  int64 `json:"rows_after"`
	Added      int64 `json:"added"`
	Removed    int64 `json:"removed"`
	Changed    int64 `json:"changed"`
	// Columns counts the changed values of each column among the changed
	// rows (columns without a change are left out).
	Columns        map[string]int64 `json:"columns"`
	ColumnsAdded   []string         `json:"columns_added"`
	ColumnsRemoved []string         `json:"columns_removed"`
	// ColumnsRetyped are the columns whose type changed: "date → text".
	// Their values are compared as JSON, where a day and its text agree.
	ColumnsRetyped map[string]string `json:"columns_retyped"`
	// Sample is some changed rows: their key, and the changed columns
	// before and after.
	Sample        []ChangedRow      `json:"sample"`
	SampleAdded   []json.RawMessage `json:"sample_added"`
	SampleRemoved []json.RawMessage `json:"sample_removed"`
}

// ChangedRow is one changed row of a ModelDiff's sample, its values as
// the database wrote them (7.00 stays 7.00).
type ChangedRow struct {
	Key    map[string]json.RawMessage `json:"key"`
	Before map[string]json.RawMessage `json:"before"`
	After  map[string]json.RawMessage `json:"after"`
}

// DiffResult is what Diff found.
type DiffResult struct {
	Models []*ModelDiff
	Checks []CheckResult
}

// Diff builds the selected models (by default the caller passes
// state:modified+) into NAME__next exactly as a run builds a model whole,
// runs their checks there, and compares each with its live relation; then
// it rolls everything back: the warehouse and the ledger are as they
// were. It returns ErrChecks, with the result, when an error check fails.
func Diff(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, opt Options, sample int) (*DiffResult, error) {
	selected, err := Selected(ctx, pool, g, opt)
	if err != nil {
		return nil, err
	}
	if _, err := GoneFunctions(ctx, pool, g, opt.Functions); err != nil {
		return nil, err
	}
	engine, err := opt.engine(ctx, pool)
	if err != nil {
		return nil, err
	}
	plan := &Plan{graph: g, Engine: engine}
	whole := wholes{}
	for _, m := range selected {
		plan.Steps = append(plan.Steps, &Step{Model: m, Name: m.Name, Build: true, Full: true})
		whole[m.Name] = true
	}
	res := &DiffResult{}
	if len(selected) == 0 {
		return res, nil
	}
	// Asked once: on Citus, Stage loads them before the diff's
	// transaction, and the diff the others in it.
	changed, err := seed.Changed(ctx, pool, opt.Seeds)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	staged, err := seed.Stage(ctx, pool, engine, changed)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	res, err = diffIn(ctx, pool, plan, opt, seedDiff{changed: changed, staged: staged}, whole, sample)
	if uerr := seed.Unstage(ctx, pool, staged); uerr != nil && err == nil {
		err = uerr
	}
	return res, err
}

// diffIn is Diff's transaction, rolled back: the models built into
// NAME__next, checked and compared, beside the seeds sd says changed.
func diffIn(ctx context.Context, pool *pgxpool.Pool, plan *Plan, opt Options, sd seedDiff, whole wholes, sample int) (*DiffResult, error) {
	res := &DiffResult{}
	tx, err := begin(ctx, pool, plan)
	if err != nil {
		return nil, fmt.Errorf("diff: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	seeds, err := diffUses(ctx, tx, plan, sd, whole)
	if err != nil {
		return nil, err
	}
	for _, s := range plan.Steps {
		opt.tell(plan, Event{Kind: ModelStarted, Model: s.Name})
		start := time.Now()
		rows, err := diffBuild(ctx, tx, plan, s.Model, whole)
		if err != nil {
			return nil, err
		}
		opt.tell(plan, Event{Kind: ModelBuilt, Model: s.Name, Rows: rows, Took: time.Since(start)})
	}
	opt.tell(plan, Event{Kind: Checking})
	if res.Checks, err = runChecks(ctx, tx, plan, whole.name); err != nil {
		return nil, err
	}
	opt.tell(plan, Event{Kind: Comparing})
	for _, s := range append(seedSteps(seeds), plan.Steps...) {
		d, err := diffModel(ctx, tx, s.Model, sample)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", s.Name, pg.Explain(err))
		}
		res.Models = append(res.Models, d)
	}
	if failed := Failed(res.Checks); len(failed) > 0 {
		return res, fmt.Errorf("%w: %s", ErrChecks, describeFailures(failed))
	}
	return res, nil
}

// diffModel compares m's __next relation with its live one.
func diffModel(ctx context.Context, tx pgx.Tx, m *dag.Model, sample int) (*ModelDiff, error) {
	return diffRels(ctx, tx, m, pg.Ident(m.Schema, m.Rel+nextSuffix), sample)
}

// diffRels compares next, a relation m was built into, with m's live one.
func diffRels(ctx context.Context, tx pgx.Tx, m *dag.Model, next string, sample int) (*ModelDiff, error) {
	d := &ModelDiff{Model: m.Name, Key: []string{}, Columns: map[string]int64{}, ColumnsAdded: []string{}, ColumnsRemoved: []string{},
		ColumnsRetyped: map[string]string{}, Sample: []ChangedRow{}, SampleAdded: []json.RawMessage{}, SampleRemoved: []json.RawMessage{}}
	live := pg.Ident(m.Schema, m.Rel)
	after, err := pg.Columns(ctx, tx, next)
	if err != nil {
		return nil, err
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+next).Scan(&d.RowsAfter); err != nil {
		return nil, err
	}
	before, err := pg.Columns(ctx, tx, live)
	if err != nil {
		return nil, err
	}
	if len(before) == 0 {
		d.New, d.Added = true, d.RowsAfter
		for _, c := range after {
			d.ColumnsAdded = append(d.ColumnsAdded, c.Name)
		}
		if sample > 0 {
			d.SampleAdded, err = someRows(ctx, tx, fmt.Sprintf("SELECT to_jsonb(r) FROM %s AS r LIMIT %d", next, sample), d.Added)
		}
		return d, err
	}
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+live).Scan(&d.RowsBefore); err != nil {
		return nil, err
	}
	was := map[string]string{} // the live relation's columns and their types
	for _, c := range before {
		was[c.Name] = c.Type
	}
	var common []string
	for _, c := range after {
		typ, ok := was[c.Name]
		delete(was, c.Name)
		switch {
		case !ok:
			d.ColumnsAdded = append(d.ColumnsAdded, c.Name)
			continue
		case typ != c.Type:
			d.ColumnsRetyped[c.Name] = typ + " → " + c.Type
		}
		common = append(common, c.Name)
	}
	for _, c := range before {
		if _, gone := was[c.Name]; gone {
			d.ColumnsRemoved = append(d.ColumnsRemoved, c.Name)
		}
	}
	c := &comparison{tx: tx, d: d, live: live, next: next, common: common, sample: sample}
	key := m.Key()
	if len(key) == 0 || slices.ContainsFunc(key, func(k string) bool { return !slices.Contains(common, k) }) {
		return d, c.whole(ctx)
	}
	d.Key = key
	return d, c.byKey(ctx, key)
}

// comparison is a model's __next relation compared with its live one,
// filling d.
type comparison struct {
	tx         pgx.Tx
	d          *ModelDiff
	live, next string   // the relations, quoted
	common     []string // the columns both have
	sample     int      // how many rows of each kind to show
}

// byKey matches rows by key with a full join: rows on one side only are
// added or removed, rows on both with another value in a column are
// changed.
func (c *comparison) byKey(ctx context.Context, key []string) error {
	d := c.d
	var values []string // the compared columns, as the join's sides name them
	for _, col := range c.common {
		if !slices.Contains(key, col) {
			values = append(values, col)
		}
	}
	side := func(rel string) string {
		cols := []string{keyExpr(key) + " AS percolate_key", "to_jsonb(r) AS percolate_row"}
		for i, col := range values {
			cols = append(cols, fmt.Sprintf("to_jsonb(r.%s) AS v%d", pg.Ident(col), i))
		}
		return fmt.Sprintf("SELECT %s FROM %s AS r", strings.Join(cols, ", "), rel)
	}
	join := fmt.Sprintf("(%s) AS b FULL JOIN (%s) AS a ON a.percolate_key = b.percolate_key", side(c.live), side(c.next))
	differs := make([]string, len(values))
	for i := range values {
		differs[i] = fmt.Sprintf("a.v%d IS DISTINCT FROM b.v%d", i, i)
	}
	anyDiffers := "false"
	if len(differs) > 0 {
		anyDiffers = strings.Join(differs, " OR ")
	}
	if err := c.countByKey(ctx, join, anyDiffers, differs, values); err != nil {
		return err
	}
	if c.sample <= 0 {
		return nil
	}
	var err error
	if d.Changed > 0 {
		if err := c.sampleChanged(ctx, join, anyDiffers, key, values); err != nil {
			return err
		}
	}
	if d.SampleAdded, err = someRows(ctx, c.tx, fmt.Sprintf("SELECT a.percolate_row FROM %s WHERE b.percolate_key IS NULL ORDER BY a.percolate_key LIMIT %d", join, c.sample), d.Added); err != nil {
		return err
	}
	d.SampleRemoved, err = someRows(ctx, c.tx, fmt.Sprintf("SELECT b.percolate_row FROM %s WHERE a.percolate_key IS NULL ORDER BY b.percolate_key LIMIT %d", join, c.sample), d.Removed)
	return err
}

// countByKey counts in one pass over join the rows added, removed and
// changed, and the rows changed in each of values (differs[i] says that
// values[i] differs).
func (c *comparison) countByKey(ctx context.Context, join, anyDiffers string, differs, values []string) error {
	counts := []string{
		"count(*) FILTER (WHERE b.percolate_key IS NULL)",
		"count(*) FILTER (WHERE a.percolate_key IS NULL)",
		fmt.Sprintf("count(*) FILTER (WHERE a.percolate_key IS NOT NULL AND b.percolate_key IS NOT NULL AND (%s))", anyDiffers),
	}
	for _, cond := range differs {
		counts = append(counts, fmt.Sprintf("count(*) FILTER (WHERE a.percolate_key IS NOT NULL AND b.percolate_key IS NOT NULL AND %s)", cond))
	}
	got := make([]int64, len(counts))
	dest := make([]any, len(counts))
	for i := range got {
		dest[i] = &got[i]
	}
	if err := c.tx.QueryRow(ctx, "SELECT "+strings.Join(counts, ", ")+" FROM "+join).Scan(dest...); err != nil {
		return err
	}
	d := c.d
	d.Added, d.Removed, d.Changed = got[0], got[1], got[2]
	for i, col := range values {
		if got[3+i] > 0 {
			d.Columns[col] = got[3+i]
		}
	}
	return nil
}

// sampleChanged shows a few changed rows: their key, and the values of
// the columns that changed, before and after.
func (c *comparison) sampleChanged(ctx context.Context, join, anyDiffers string, key, values []string) error {
	rows, err := c.tx.Query(ctx, fmt.Sprintf("SELECT b.percolate_row, a.percolate_row FROM %s WHERE a.percolate_key IS NOT NULL AND b.percolate_key IS NOT NULL AND (%s) ORDER BY a.percolate_key LIMIT %d", join, anyDiffers, c.sample))
	if err != nil {
		return err
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]map[string]json.RawMessage, error) {
		var p [2]map[string]json.RawMessage
		return p, r.Scan(&p[0], &p[1])
	})
	if err != nil {
		return err
	}
	for _, p := range pairs {
		ch := ChangedRow{Key: map[string]json.RawMessage{}, Before: map[string]json.RawMessage{}, After: map[string]json.RawMessage{}}
		for _, k := range key {
			ch.Key[k] = p[1][k]
		}
		for _, col := range values {
			if pg.JSONValue(p[0][col]) != pg.JSONValue(p[1][col]) {
				ch.Before[col], ch.After[col] = p[0][col], p[1][col]
			}
		}
		c.d.Sample = append(c.d.Sample, ch)
	}
	return nil
}

// keyExpr is a row's key as one value that joins by hashing, NULLs
// included (a product without a size is a key like any other).
func keyExpr(key []string) string {
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = "r." + pg.Ident(k)
	}
	return "jsonb_build_array(" + strings.Join(cols, ", ") + ")"
}

// whole compares rows whole (as multisets) where there is no key: each
// row is hashed (64 bits, as PostgreSQL hashes values for joins: 2.5 and
// 2.50 alike) and the rows of each hash counted on both sides, in one pass
// over each; only when some differ are they found again for a sample. Two
// different rows on opposite sides would have to share a hash to hide each
// other: about one chance in 10^7 for two million rows.
func (c *comparison) whole(ctx context.Context) error {
	tx, d, live, next, common, sample := c.tx, c.d, c.live, c.next, c.common, c.sample
	cols := make([]string, len(common))
	for i, col := range common {
		cols[i] = "r." + pg.Ident(col)
	}
	row := "ROW(" + strings.Join(cols, ", ") + ")"
	// The hashes whose rows differ, kept for the sample (the transaction
	// is rolled back, and the table with it).
	if _, err := tx.Exec(ctx, fmt.Sprintf(`DROP TABLE IF EXISTS pg_temp.percolate_diff;
		CREATE TEMP TABLE percolate_diff AS SELECT h, sum(side) AS n FROM (
		SELECT hash_record_extended(%[1]s, 0) AS h, 1 AS side FROM %[2]s AS r
		UNION ALL
		SELECT hash_record_extended(%[1]s, 0), -1 FROM %[3]s AS r) AS s
		GROUP BY h HAVING sum(side) <> 0`, row, next, live)); err != nil {
		return err
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(sum(n) FILTER (WHERE n > 0), 0), coalesce(-sum(n) FILTER (WHERE n < 0), 0) FROM pg_temp.percolate_diff").
		Scan(&d.Added, &d.Removed); err != nil {
		return err
	}
	if sample <= 0 || d.Added+d.Removed == 0 {
		return nil
	}
	pick := func(rel, sign string) string {
		return fmt.Sprintf(`SELECT to_jsonb(x) FROM (SELECT %s FROM %s AS r WHERE hash_record_extended(%s, 0) IN (SELECT h FROM pg_temp.percolate_diff WHERE n %s 0) LIMIT %d) AS x`,
			strings.Join(cols, ", "), rel, row, sign, sample)
	}
	var err error
	if d.SampleAdded, err = someRows(ctx, tx, pick(next, ">"), d.Added); err != nil {
		return err
	}
	d.SampleRemoved, err = someRows(ctx, tx, pick(live, "<"), d.Removed)
	return err
}

func someRows(ctx context.Context, tx pgx.Tx, sql string, n int64) ([]json.RawMessage, error) {
	if n == 0 {
		return []json.RawMessage{}, nil
	}
	rows, err := tx.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
}
