package build

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/seed"
)

// syncUses readies what the models use besides relations, in a
// transaction of its own, before anything is built: the project's
// functions and pipelines.yaml's vars (see PrepareUses).
func syncUses(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := PrepareUses(ctx, tx, g); err != nil {
		return err
	}
	return pg.Commit(ctx, tx)
}

// PrepareUses creates, in tx, the project functions (models/functions)
// that are missing or whose version is not the one last created, callees
// first, and makes pipelines.yaml's vars the ones percolate.var reads. A
// function is created as the models' role, which owns it: its body can do
// no more than a model (docs/security.md). Bodies are checked when called,
// not when created: a function may read a model not built yet. tx is left
// as the role percolate connected as.
func PrepareUses(ctx context.Context, tx pgx.Tx, g *dag.Graph) error {
	var book ledger.Store
	if err := book.SetVars(ctx, tx, g.Vars()); err != nil {
		return fmt.Errorf("write the vars: %w", err)
	}
	fns := g.Functions()
	if len(fns) == 0 {
		return nil
	}
	created, err := book.FunctionVersions(ctx, tx)
	if err != nil {
		return err
	}
	var stale []*dag.Function
	for _, f := range fns {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
			WHERE n.nspname = $1 AND p.proname = $2)`, f.Schema, f.Name[len(f.Schema)+1:]).Scan(&exists); err != nil {
			return err
		}
		if !exists || created[f.Name] != f.Version {
			stale = append(stale, f)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	if err := functionSchemas(ctx, tx, stale); err != nil {
		return err
	}
	if err := pg.AsModels(ctx, tx); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL check_function_bodies = off"); err != nil {
		return err
	}
	for _, f := range stale {
		for _, stmt := range f.Statements {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return functionError(f, err)
			}
		}
	}
	if err := pg.AsConnected(ctx, tx); err != nil {
		return err
	}
	for _, f := range stale {
		if err := book.RecordFunction(ctx, tx, f.Name, f.Version); err != nil {
			return err
		}
	}
	return nil
}

// functionError names the function's file and line in what the database
// said of it.
func functionError(f *dag.Function, err error) error {
	var pgErr *pgconn.PgError
	msg := pg.Describe(err)
	if errors.As(err, &pgErr) && pgErr.Code == "42P13" {
		msg += " (a function whose result or arguments change must be dropped first: a project migration can DROP FUNCTION)"
	}
	return &dag.Error{Path: f.Path, Line: f.Line, Msg: "function " + f.Name + ": " + msg}
}

// seedDiff is what a diff compares of the seeds.
type seedDiff struct {
	// changed are the seeds whose content is not the one loaded
	// (seed.Changed).
	changed []*seed.Seed
	// staged are those of changed whose NAME__next seed.Stage made
	// already (on Citus).
	staged []*seed.Seed
}

// diffSeeds loads, in a diff's transaction, each seed sd says changed
// into NAME__next beside the live table (but those staged already), and
// has the models read it there (whole). It returns the seeds as models to
// compare.
func diffSeeds(ctx context.Context, tx pgx.Tx, sd seedDiff, whole wholes) ([]*dag.Model, error) {
	var out []*dag.Model
	for _, s := range sd.changed {
		if !slices.ContainsFunc(sd.staged, func(x *seed.Seed) bool { return x.Name == s.Name }) {
			if err := fillNext(ctx, tx, s); err != nil {
				return nil, err
			}
		}
		whole[s.Name] = true
		out = append(out, &dag.Model{Name: s.Name, Schema: s.Schema, Rel: s.Rel, Path: s.Path, Config: dag.Config{Key: s.Key}})
	}
	return out, pg.AsModels(ctx, tx)
}

// fillNext loads a seed's rows into NAME__next in tx, as the role
// percolate connected as, for the models' role to read.
func fillNext(ctx context.Context, tx pgx.Tx, s *seed.Seed) error {
	if err := pg.AsConnected(ctx, tx); err != nil {
		return err
	}
	if _, err := seed.Fill(ctx, tx, s, s.Rel+seed.NextSuffix); err != nil {
		return fmt.Errorf("seed %s: %w", s.Name, pg.Explain(err))
	}
	_, err := tx.Exec(ctx, "GRANT SELECT ON "+pg.Ident(s.Schema, s.Rel+seed.NextSuffix)+" TO "+pg.Ident(pg.ModelsRole))
	return err
}

// diffUses readies a diff's transaction as a run's build would find the
// warehouse: functions and vars as the working copy declares them, and
// the seeds that changed beside the live ones (diffSeeds). tx is left as
// the models' role.
func diffUses(ctx context.Context, tx pgx.Tx, plan *Plan, sd seedDiff, whole wholes) ([]*dag.Model, error) {
	if err := pg.AsConnected(ctx, tx); err != nil {
		return nil, err
	}
	if err := PrepareUses(ctx, tx, plan.graph); err != nil {
		return nil, err
	}
	return diffSeeds(ctx, tx, sd, whole)
}

// seedSteps are steps for the seeds a diff compares.
func seedSteps(seeds []*dag.Model) []*Step {
	out := make([]*Step, len(seeds))
	for i, m := range seeds {
		out[i] = &Step{Model: m, Name: m.Name}
	}
	return out
}

// usedBy names what m uses besides its parents, for a version that
// changed with no parent's: its functions, vars and seeds.
func usedBy(g *dag.Graph, m *dag.Model) []string {
	var out []string
	for _, f := range m.Functions {
		out = append(out, "function "+f)
	}
	for _, v := range m.Vars {
		out = append(out, "var "+v)
	}
	for _, s := range m.Sources {
		if _, ok := g.Seed(s); ok {
			out = append(out, "seed "+s)
		}
	}
	if len(out) == 0 {
		return []string{"a parent's version"}
	}
	if len(out) == 1 {
		return out
	}
	return []string{"one of " + strings.Join(out, ", ")}
}

// functionSchemas makes the schemas of fns that are missing, as
// migrate.EnsureSchemas would, inside tx: `migrate up` makes them for a
// run, but unit tests may run on a database never migrated, in a
// transaction rolled back.
func functionSchemas(ctx context.Context, tx pgx.Tx, fns []*dag.Function) error {
	for _, f := range fns {
		var missing bool
		if err := tx.QueryRow(ctx, "SELECT to_regnamespace($1) IS NULL", pg.Ident(f.Schema)).Scan(&missing); err != nil || !missing {
			if err != nil {
				return err
			}
			continue
		}
		s := pg.Ident(f.Schema)
		if _, err := tx.Exec(ctx, "CREATE SCHEMA "+s+"; GRANT USAGE, CREATE ON SCHEMA "+s+" TO "+pg.Ident(pg.ModelsRole)); err != nil {
			return fmt.Errorf("function %s: make schema %s: %w", f.Name, f.Schema, pg.Explain(err))
		}
	}
	return nil
}
