package build

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// EnvSchemas lists the schemas of environment env, as the catalog marks
// them (see envComment).
func EnvSchemas(ctx context.Context, q ledger.Querier, env string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT nspname FROM pg_namespace WHERE obj_description(oid, 'pg_namespace') = $1 ORDER BY 1`, envComment+" "+env)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// EnvDrop drops environment env: its schemas, with everything in them,
// and its record, in one transaction. Live relations do not depend on an
// environment's, so nothing live goes with it.
func EnvDrop(ctx context.Context, pool *pgxpool.Pool, env string) ([]string, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	schemas, err := EnvSchemas(ctx, tx, env)
	if err != nil {
		return nil, err
	}
	for _, s := range schemas {
		if _, err := tx.Exec(ctx, "DROP SCHEMA "+pg.Ident(s)+" CASCADE"); err != nil {
			return nil, fmt.Errorf("drop schema %s: %w", s, pg.Explain(err))
		}
	}
	var book ledger.Store
	if err := book.ForgetEnv(ctx, tx, env); err != nil {
		return nil, fmt.Errorf("forget environment %s: %w", env, err)
	}
	return schemas, pg.Commit(ctx, tx)
}

// dropEnvReaders drops the environments' views that read the live
// relation schema.rel, which a publish is about to replace: an
// environment must never stop a live publish. Its next run makes them
// again.
func dropEnvReaders(ctx context.Context, tx pgx.Tx, schema, rel string) error {
	rows, err := tx.Query(ctx, `SELECT DISTINCT n.nspname, v.relname FROM pg_depend d
		JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
		JOIN pg_namespace n ON n.oid = v.relnamespace
		WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = to_regclass($1) AND v.oid <> d.refobjid
		  AND obj_description(n.oid, 'pg_namespace') LIKE $2`, pg.Ident(schema, rel), envComment+" %")
	if err != nil {
		return err
	}
	views, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Schema, Rel string }])
	if err != nil {
		return err
	}
	for _, v := range views {
		if err := dropRelation(ctx, tx, v.Schema, v.Rel, true); err != nil {
			return err
		}
	}
	return nil
}

// EnvDiff compares each model environment env built (a table or a view
// from its SQL) with its live relation, as Diff compares NAME__next.
func EnvDiff(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string, sample int) (*DiffResult, error) {
	if err := CheckEnv(g, env); err != nil {
		return nil, err
	}
	var book ledger.Store
	held, err := book.EnvBuilds(ctx, pool, env)
	if err != nil {
		return nil, fmt.Errorf("read environment %s: %w", env, err)
	}
	if len(held) == 0 {
		return nil, fmt.Errorf("environment %s: not built: run 'percolate run --env %s' first", env, env)
	}
	// Rolled back: the comparison's scratch table goes with it.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	res := &DiffResult{}
	for _, m := range g.Models {
		if b, ok := held[m.Name]; !ok || b.Kind == "live" {
			continue
		}
		d, err := diffRels(ctx, tx, m, pg.Ident(EnvSchema(m.Schema, env), m.Rel), sample)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", m.Name, pg.Explain(err))
		}
		res.Models = append(res.Models, d)
	}
	return res, nil
}

// EnvTest runs the checks of the models environment env built (tables and
// views from their SQL) on its relations, rolled back: an environment's
// check results are not the live ledger's.
func EnvTest(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string, opt Options) ([]CheckResult, error) {
	if err := CheckEnv(g, env); err != nil {
		return nil, err
	}
	held, err := ledger.Store{}.EnvBuilds(ctx, pool, env)
	if err != nil {
		return nil, fmt.Errorf("read environment %s: %w", env, err)
	}
	if len(held) == 0 {
		return nil, fmt.Errorf("environment %s: not built: run 'percolate run --env %s' first", env, env)
	}
	engine, err := opt.engine(ctx, pool)
	if err != nil {
		return nil, err
	}
	plan := &Plan{graph: g, Engine: engine}
	for _, m := range g.Models {
		if b, ok := held[m.Name]; ok && b.Kind != "live" {
			plan.Steps = append(plan.Steps, &Step{Model: m, Name: m.Name, Build: true, Full: true})
		}
	}
	tx, err := begin(ctx, pool, plan)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return runChecks(ctx, tx, plan, func(rel string) string {
		if b, ok := held[rel]; ok {
			_, name, _ := strings.Cut(rel, ".")
			return b.Schema + "." + name
		}
		return rel
	})
}
