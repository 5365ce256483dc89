package loaders

import (
	"context"
	"fmt"

	wh "github.com/percolate/percolate/internal/warehouse" // this package's tests have a helper named warehouse
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
// engine drops them (warehouse.Engine.DeferIndexes: not on Citus) and
// builds them again (wh.RestoreIndexes).
func (l *CSV) deferIndexes(ctx context.Context, c *contract, size int64) (bool, error) {
	from := l.opt.DeferIndexesFrom
	if from == 0 {
		from = deferIndexesFrom
	}
	if from < 0 || size < from {
		return false, nil
	}
	engine, err := l.engine(ctx)
	if err != nil {
		return false, err
	}
	var tables []string
	for _, t := range c.tables() {
		tables = append(tables, t.name)
	}
	// A CSV's rows take about three times its bytes in the tables.
	var held int64
	if err := l.pool.QueryRow(ctx, `SELECT coalesce(sum(pg_relation_size(to_regclass(t))), 0) FROM unnest($1::text[]) AS t`, tables).Scan(&held); err != nil {
		return false, fmt.Errorf("size of %v: %w", tables, err)
	}
	if 3*size < held {
		return false, nil
	}
	return engine.DeferIndexes(ctx, l.pool, tables)
}

// engine is the warehouse's engine: the one the loader was given, else
// detected on first use, once.
func (l *CSV) engine(ctx context.Context) (*wh.Engine, error) {
	l.detect.Lock()
	defer l.detect.Unlock()
	if l.opt.Engine == nil {
		e, err := wh.Detect(ctx, l.pool)
		if err != nil {
			return nil, err
		}
		l.opt.Engine = e
	}
	return l.opt.Engine, nil
}
