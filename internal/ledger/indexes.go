package ledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DeferredIndex is an index a load dropped until it ends: its name
// (schema-qualified) and its definition (pg_get_indexdef), which builds it
// again.
type DeferredIndex struct{ Name, Def string }

// RecordDeferredIndex records ix as dropped, in the transaction tx that
// drops it, so that one a killed load leaves dropped is built by the next
// load, run or migration.
func (Store) RecordDeferredIndex(ctx context.Context, tx pgx.Tx, ix DeferredIndex) error {
	if _, err := tx.Exec(ctx, `INSERT INTO percolate.deferred_indexes (name, definition) VALUES ($1, $2)`, ix.Name, ix.Def); err != nil {
		return fmt.Errorf("ledger: record the deferred index %s: %w", ix.Name, err)
	}
	return nil
}

// DeferredIndexes lists the indexes recorded as dropped, by name; none on
// a ledger older than the record.
func (Store) DeferredIndexes(ctx context.Context, q Querier) ([]DeferredIndex, error) {
	var ok bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('percolate.deferred_indexes') IS NOT NULL`).Scan(&ok); err != nil || !ok {
		return nil, err
	}
	rows, err := q.Query(ctx, `SELECT name, definition FROM percolate.deferred_indexes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("ledger: read the deferred indexes: %w", err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[DeferredIndex])
	if err != nil {
		return nil, fmt.Errorf("ledger: read the deferred indexes: %w", err)
	}
	return list, nil
}

// ForgetDeferredIndex deletes the record of the index name, in the
// transaction tx that builds it again.
func (Store) ForgetDeferredIndex(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM percolate.deferred_indexes WHERE name = $1`, name); err != nil {
		return fmt.Errorf("ledger: forget the deferred index %s: %w", name, err)
	}
	return nil
}
