package warehouse

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/ledger"
)

// DeferIndexes drops the BRIN indexes of tables until RestoreIndexes
// builds them again, and reports whether it dropped any. The loader
// decides when a load is big enough for it to pay (PostgreSQL 15 keeps a
// BRIN index row by row, where building it afterwards reads each page
// once). The ledger records each index in the transaction that drops it,
// so that one a killed load leaves dropped is built by the next load, run
// or migration. A table in use elsewhere keeps its indexes: the drop waits
// a second at most. Not on Citus, whose shards each have their own.
func (e *Engine) DeferIndexes(ctx context.Context, pool *pgxpool.Pool, tables []string) (bool, error) {
	if e.IsCitus() {
		return false, nil
	}
	var dropped int
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
			FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
			WHERE am.amname = 'brin' AND i.indrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
			ORDER BY 1`, tables)
		if err != nil {
			return err
		}
		list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ledger.DeferredIndex])
		if err != nil {
			return err
		}
		for _, ix := range list {
			if err := (ledger.Store{}).RecordDeferredIndex(ctx, tx, ix); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DROP INDEX "+ix.Name); err != nil {
				return fmt.Errorf("drop %s: %w", ix.Name, err)
			}
		}
		dropped = len(list)
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("warehouse: defer indexes: %w", err)
	}
	return dropped > 0, nil
}

// RestoreIndexes builds again every index DeferIndexes dropped, side by
// side, each in a transaction with the deletion of its record. It needs
// no engine: it builds what the ledger recorded, whatever dropped it.
func RestoreIndexes(ctx context.Context, pool *pgxpool.Pool) error {
	var book ledger.Store
	list, err := book.DeferredIndexes(ctx, pool)
	if err != nil {
		return fmt.Errorf("warehouse: restore indexes: %w", err)
	}
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, ix := range list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if err := book.ForgetDeferredIndex(ctx, tx, ix.Name); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, ix.Def); err != nil {
					return fmt.Errorf("warehouse: build %s again: %w", ix.Name, err)
				}
				return nil
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
