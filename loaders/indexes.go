package loaders

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/percolate/percolate/internal/pg"
)

// deferIndexesFrom is the least a load must bring, in bytes of files,
// for its tables' BRIN indexes to be dropped until it ends (and as much
// as the tables hold already): a backfill, not a night's files.
const deferIndexesFrom = 64 << 20

// deferIndexes drops the BRIN indexes of c's tables when a load of size
// bytes will at least double them, and reports whether it did. PostgreSQL
// 15 keeps a BRIN index row by row, each insert reading the index's
// metapage and map: on the year's 2.7 million item rows that is 1.7 s of
// the 5 s their COPY takes, where building the index afterwards reads
// each page once (0.6 s), as summarizing the new rows did anyway. The
// ledger records each index in the transaction that drops it, so that
// one a killed load leaves dropped is built by the next load, run or
// migration (ledger.RestoreIndexes). A table in use elsewhere keeps its
// indexes: the drop waits a second at most. Not on Citus, whose shards
// each have their own.
func (l *CSV) deferIndexes(ctx context.Context, c *contract, size int64) (bool, error) {
	from := l.opt.DeferIndexesFrom
	if from == 0 {
		from = deferIndexesFrom
	}
	if from < 0 || size < from {
		return false, nil
	}
	if v, err := pg.Citus(ctx, l.pool); err != nil || v != "" {
		return false, err
	}
	var tables []string
	for _, t := range c.tables() {
		tables = append(tables, t.name)
	}
	// A CSV's rows take about three times its bytes in the tables.
	var held int64
	if err := l.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_relation_size(to_regclass(t))), 0) FROM unnest($1::text[]) AS t`, tables).Scan(&held); err != nil {
		return false, err
	}
	if 3*size < held {
		return false, nil
	}
	var dropped []string
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '1s'"); err != nil {
			return err
		}
		var err error
		dropped, err = l.ledger.DeferIndexes(ctx, tx, tables)
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return false, nil
	}
	return len(dropped) > 0, err
}
