// Package build materializes a project's models in dependency order, runs
// their checks on the new relations, and only then publishes them in one
// short swap: readers see the old relations or the new, never a half, and a
// failing check leaves the old ones untouched.
package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

// nextSuffix names the relation a model is built into before the swap.
const nextSuffix = "__next"

// Built is one model's outcome.
type Built struct {
	Model    *dag.Model
	Rows     int64 // rows of a table; -1 for a view
	Duration time.Duration
	Reason   string
}

// ModelError is a model that the database refused, with the line of the
// model file the database pointed at.
type ModelError struct {
	Path string
	Line int
	Err  error
}

func (e *ModelError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, pg.Describe(e.Err))
	}
	return fmt.Sprintf("%s: %s", e.Path, pg.Describe(e.Err))
}

func (e *ModelError) Unwrap() error { return e.Err }

// ErrChecks is wrapped by the error of a build whose error-severity checks
// failed: nothing was published.
var ErrChecks = errors.New("checks failed")

// Result is what a build did.
type Result struct {
	Plan   *Plan
	Built  []Built
	Checks []CheckResult
}

// Run plans the build of g, builds what the plan says into new relations,
// checks them and publishes them, all in one transaction whose only
// exclusive locks are taken by the final swap. It records builds and check
// results in the ledger under runID.
func Run(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, runID int64, opt Options) (*Result, error) {
	plan, err := NewPlan(ctx, pool, g, opt)
	if err != nil {
		return nil, err
	}
	res := &Result{Plan: plan}
	if plan.Builds() == 0 {
		return res, nil
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())

	building := map[string]bool{}
	for _, s := range plan.Steps {
		building[s.Name] = s.Build
	}
	rename := func(rel string) (string, bool) {
		if building[rel] {
			return rel + nextSuffix, true
		}
		return rel, false
	}
	for _, s := range plan.Steps {
		if !s.Build {
			continue
		}
		start := time.Now()
		rows, err := materialize(ctx, tx, s.Model, rename)
		if err != nil {
			return nil, err
		}
		res.Built = append(res.Built, Built{Model: s.Model, Rows: rows, Duration: time.Since(start), Reason: s.Reason})
	}
	res.Checks, err = runChecks(ctx, tx, res.Built, func(rel string) string {
		to, _ := rename(rel)
		return to
	})
	if err != nil {
		return nil, err
	}
	if failed := Failed(res.Checks); len(failed) > 0 {
		tx.Rollback(ctx)
		recordChecks(pool, runID, res.Checks)
		return res, fmt.Errorf("%w: %s; nothing was published", ErrChecks, describeFailures(failed))
	}
	if err := swap(ctx, tx, g, building); err != nil {
		return nil, err
	}
	for _, b := range res.Built {
		if _, err := tx.Exec(ctx, `INSERT INTO percolate.model_builds (run_id, model, version, own_version, materialization, rows, started_at, finished_at, inputs)
			VALUES ($1, $2, $3, $4, $5, NULLIF($6, -1), $7, $8, $9)`, runID, b.Model.Name, b.Model.Version, b.Model.OwnVersion, b.Model.Config.Materialized,
			b.Rows, time.Now().Add(-b.Duration), time.Now(), stepOf(plan, b.Model.Name).inputs); err != nil {
			return nil, err
		}
	}
	if err := insertChecks(ctx, tx, runID, res.Checks); err != nil {
		return nil, err
	}
	return res, tx.Commit(ctx)
}

func stepOf(p *Plan, name string) *Step {
	for _, s := range p.Steps {
		if s.Name == name {
			return s
		}
	}
	return &Step{}
}

// Compile returns the SQL that builds m when the models in building are
// rebuilt in the same run: their names point at their new relations.
func Compile(m *dag.Model, building map[string]bool) (string, error) {
	return dag.Rewrite(body(m), func(rel string) (string, bool) {
		if building[rel] {
			return rel + nextSuffix, true
		}
		return rel, false
	})
}

func body(m *dag.Model) string {
	return strings.TrimRight(strings.TrimSpace(m.SQL), "; \t\r\n")
}

// materialize builds m into its __next relation: a table is created empty
// and then filled (as distributed engines want it), a view is created.
func materialize(ctx context.Context, tx pgx.Tx, m *dag.Model, rename func(string) (string, bool)) (int64, error) {
	sql, err := dag.Rewrite(body(m), rename)
	if err != nil {
		return 0, &ModelError{Path: m.Path, Err: err}
	}
	next := pg.Ident(m.Schema, m.Rel+nextSuffix)
	offset := len(m.SQL) - len(strings.TrimLeft(m.SQL, " \t\r\n"))
	for _, kind := range []string{"VIEW", "TABLE"} {
		if _, err := tx.Exec(ctx, fmt.Sprintf("DROP %s IF EXISTS %s", kind, next)); err != nil && !isWrongObjectType(err) {
			return 0, err
		}
	}
	if m.Config.Materialized == dag.View {
		prefix := "CREATE VIEW " + next + " AS\n"
		if _, err := tx.Exec(ctx, prefix+sql+"\n"); err != nil {
			return 0, modelError(m, err, prefix, sql, offset)
		}
		return -1, nil
	}
	prefix := "CREATE TABLE " + next + " AS\n"
	if _, err := tx.Exec(ctx, prefix+sql+"\nWITH NO DATA"); err != nil {
		return 0, modelError(m, err, prefix, sql, offset)
	}
	prefix = "INSERT INTO " + next + "\n"
	tag, err := tx.Exec(ctx, prefix+sql+"\n")
	if err != nil {
		return 0, modelError(m, err, prefix, sql, offset)
	}
	if _, err := tx.Exec(ctx, "ANALYZE "+next); err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func isWrongObjectType(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42809"
}

// swap publishes the built relations: model views that depend on them are
// dropped children-first, the old tables dropped, the new renamed into
// place, and the views recreated parents-first from their own SQL. No
// CASCADE: an object outside the models that depends on a model stops the
// swap with the database's message, and nothing is published.
func swap(ctx context.Context, tx pgx.Tx, g *dag.Graph, building map[string]bool) error {
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '60s'"); err != nil {
		return err
	}
	// Views to recreate: rebuilt ones, and views reading anything swapped.
	recreate := map[string]bool{}
	for _, m := range g.Models {
		if m.Config.Materialized != dag.View {
			continue
		}
		if building[m.Name] {
			recreate[m.Name] = true
			continue
		}
		for _, p := range m.Parents {
			if (building[p] && g.Model(p).Config.Materialized == dag.Table) || recreate[p] {
				recreate[m.Name] = true
			}
		}
	}
	for i := len(g.Models) - 1; i >= 0; i-- {
		m := g.Models[i]
		if !recreate[m.Name] && !building[m.Name] {
			continue
		}
		if err := dropRelation(ctx, tx, m.Schema, m.Rel); err != nil {
			return fmt.Errorf("publish %s: %s", m.Name, pg.Describe(err))
		}
	}
	for _, m := range g.Models {
		switch {
		case building[m.Name] && m.Config.Materialized == dag.Table:
			if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s", pg.Ident(m.Schema, m.Rel+nextSuffix), pg.Ident(m.Rel))); err != nil {
				return fmt.Errorf("publish %s: %s", m.Name, pg.Describe(err))
			}
		case recreate[m.Name]:
			if building[m.Name] {
				if _, err := tx.Exec(ctx, "DROP VIEW "+pg.Ident(m.Schema, m.Rel+nextSuffix)); err != nil {
					return err
				}
			}
			prefix := "CREATE VIEW " + pg.Ident(m.Schema, m.Rel) + " AS\n"
			offset := len(m.SQL) - len(strings.TrimLeft(m.SQL, " \t\r\n"))
			if _, err := tx.Exec(ctx, prefix+body(m)+"\n"); err != nil {
				return modelError(m, err, prefix, body(m), offset)
			}
		}
	}
	return nil
}

// dropRelation drops a table or view if it exists.
func dropRelation(ctx context.Context, tx pgx.Tx, schema, rel string) error {
	var kind string
	err := tx.QueryRow(ctx, `SELECT c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = $2`, schema, rel).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	what := "TABLE"
	if kind == "v" {
		what = "VIEW"
	}
	_, err = tx.Exec(ctx, "DROP "+what+" "+pg.Ident(schema, rel))
	return err
}

// modelError maps the database's error position (in characters, in the
// statement as sent) back to a line of the model file. The SQL sent keeps
// the file's lines: only relation names are rewritten.
func modelError(m *dag.Model, err error, prefix, sent string, leading int) error {
	var pgErr *pgconn.PgError
	line := 0
	if errors.As(err, &pgErr) && pgErr.Position > 0 {
		runes := int(pgErr.Position) - 1 - utf8.RuneCountInString(prefix)
		if runes >= 0 {
			i := 0
			for n := 0; n < runes && i < len(sent); n++ {
				_, size := utf8.DecodeRuneInString(sent[i:])
				i += size
			}
			line = strings.Count(m.SQL[:leading], "\n") + strings.Count(sent[:i], "\n") + 1
		}
	}
	return &ModelError{Path: m.Path, Line: line, Err: err}
}
