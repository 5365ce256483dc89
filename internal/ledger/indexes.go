package ledger

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// deferred is an index dropped for a load: its name and its definition.
type deferred struct{ Name, Def string }

// DeferIndexes drops the BRIN indexes of tables in tx, recording each
// definition so that RestoreIndexes builds it again, and returns their
// names. The caller commits the two together.
func (Store) DeferIndexes(ctx context.Context, tx pgx.Tx, tables []string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
		WHERE am.amname = 'brin' AND i.indrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
		ORDER BY 1`, tables)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[deferred])
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ix := range list {
		if _, err := tx.Exec(ctx, `INSERT INTO percolate.deferred_indexes (name, definition) VALUES ($1, $2)`, ix.Name, ix.Def); err != nil {
			return nil, err
		}
		if _, err := tx.Exec(ctx, "DROP INDEX "+ix.Name); err != nil {
			return nil, fmt.Errorf("drop %s: %w", ix.Name, err)
		}
		names = append(names, ix.Name)
	}
	return names, nil
}

// RestoreIndexes builds again every index DeferIndexes dropped, side by
// side, each in a transaction with the deletion of its record. It does
// nothing on a ledger older than the record.
func (Store) RestoreIndexes(ctx context.Context, pool *pgxpool.Pool) error {
	var ok bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass('percolate.deferred_indexes') IS NOT NULL`).Scan(&ok); err != nil || !ok {
		return err
	}
	rows, err := pool.Query(ctx, `SELECT name, definition FROM percolate.deferred_indexes ORDER BY name`)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[deferred])
	if err != nil {
		return err
	}
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, ix := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `DELETE FROM percolate.deferred_indexes WHERE name = $1`, ix.Name); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, ix.Def); err != nil {
					return fmt.Errorf("build %s again: %w", ix.Name, err)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
