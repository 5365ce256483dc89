package build

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// GoneFunctions lists the functions Percolate created (the ledger's
// percolate.functions) that no pipeline of the project declares any more
// (declared: opt.Functions; nil, none is gone). It fails, naming the file
// and line, when a model or function of g still calls one: before
// anything is built, as a model calling a function that does not exist
// would fail later.
func GoneFunctions(ctx context.Context, q ledger.Querier, g *dag.Graph, declared []string) ([]string, error) {
	if declared == nil {
		return nil, nil
	}
	var book ledger.Store
	created, err := book.FunctionVersions(ctx, q)
	if err != nil {
		return nil, err
	}
	var gone []string
	for name := range created {
		if g.Function(name) == nil && !slices.Contains(declared, name) {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		if file, line, ok := g.CallOf(name); ok {
			return nil, &dag.Error{Path: file, Line: line, Msg: fmt.Sprintf("calls %s, which no file of models/functions declares any more (the next run would drop it): declare it again, or stop calling it", name)}
		}
	}
	return gone, nil
}

// dropGone drops, in tx (as the models' role, which owns them), every
// overload of the gone functions that Percolate created, and forgets
// them. It runs in the publish, after the swap: a view published before
// may call one until this build replaces it.
func dropGone(ctx context.Context, tx pgx.Tx, gone []string) error {
	if len(gone) == 0 {
		return nil
	}
	for _, name := range gone {
		schema, fn, _ := strings.Cut(name, ".")
		rows, err := tx.Query(ctx, `SELECT p.oid::regprocedure::text FROM pg_proc AS p JOIN pg_namespace AS n ON n.oid = p.pronamespace
			WHERE n.nspname = $1 AND p.proname = $2 AND p.proowner = to_regrole($3)`, schema, fn, pg.ModelsRole)
		if err != nil {
			return err
		}
		sigs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, sig := range sigs {
			if _, err := tx.Exec(ctx, "DROP FUNCTION "+sig); err != nil {
				return fmt.Errorf("drop function %s, which no file of models/functions declares any more: %w", sig, pg.Explain(err))
			}
		}
	}
	return asConnected(ctx, tx, func() error {
		var book ledger.Store
		return book.ForgetFunctions(ctx, tx, gone)
	})
}

// dropGoneAlone drops the gone functions in a transaction of their own,
// for a run with nothing to publish.
func dropGoneAlone(ctx context.Context, pool *pgxpool.Pool, plan *Plan, gone []string) error {
	if len(gone) == 0 {
		return nil
	}
	tx, err := begin(ctx, pool, plan)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := dropGone(ctx, tx, gone); err != nil {
		return err
	}
	return pg.Commit(ctx, tx)
}
