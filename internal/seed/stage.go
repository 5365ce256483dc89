package seed

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/warehouse"
)

// NextSuffix names the table beside a seed's that holds its new rows,
// while a load or a diff has them there.
const NextSuffix = "__next"

// Stage makes, for a diff on Citus, NAME__next of each of the seeds
// changed (see Changed), with its rows, a reference table as the live
// seed is, that the models' role may read; in a transaction of its own,
// committed before the diff's begins: Citus will not read, in the
// transaction that made it and as another role, a reference table the
// connected user made (SQLSTATE 25001). It returns the seeds staged: the
// caller drops them with Unstage, whatever the diff does. On one server it
// stages nothing: the diff loads the rows in the transaction it rolls
// back.
func Stage(ctx context.Context, pool *pgxpool.Pool, eng *warehouse.Engine, changed []*Seed) ([]*Seed, error) {
	if !eng.IsCitus() || len(changed) == 0 {
		return nil, nil
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, s := range changed {
		next := pg.Ident(s.Schema, s.Rel+NextSuffix)
		// A killed diff's, or a killed load's.
		if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+next); err != nil {
			return nil, fmt.Errorf("seed %s: %w", s.Name, pg.Explain(err))
		}
		if _, err := Fill(ctx, tx, s, s.Rel+NextSuffix); err != nil {
			return nil, fmt.Errorf("seed %s: %w", s.Name, pg.Explain(err))
		}
		if err := eng.Reference(ctx, tx, next); err != nil {
			return nil, fmt.Errorf("seed %s: %w", s.Name, err)
		}
		if _, err := tx.Exec(ctx, "GRANT SELECT ON "+next+" TO "+pg.Ident(pg.ModelsRole)); err != nil {
			return nil, fmt.Errorf("seed %s: %w", s.Name, pg.Explain(err))
		}
	}
	return changed, pg.Commit(ctx, tx)
}

// Unstage drops the tables Stage made. It runs even when ctx is done (a
// diff cancelled): nothing of a diff is left behind.
func Unstage(ctx context.Context, pool *pgxpool.Pool, staged []*Seed) error {
	if len(staged) == 0 {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, s := range staged {
		if _, err := tx.Exec(ctx, "DROP TABLE IF EXISTS "+pg.Ident(s.Schema, s.Rel+NextSuffix)); err != nil {
			return fmt.Errorf("drop the new rows of seed %s: %w", s.Name, pg.Explain(err))
		}
	}
	return pg.Commit(ctx, tx)
}
