package warehouse

import (
	"context"
	"fmt"

	"github.com/percolate/percolate/internal/pg"
)

// Distribute shards the empty table rel by its column by
// (create_distributed_table): tables sharded by columns of one type share
// shards (co-located), so their joins and sums by that column run on the
// workers. A table is distributed while empty and filled after, by INSERT
// … SELECT that the workers run shard by shard. It does nothing on plain
// PostgreSQL.
func (e *Engine) Distribute(ctx context.Context, q Querier, rel, by string) error {
	if !e.IsCitus() {
		return nil
	}
	if _, err := q.Exec(ctx, "SELECT create_distributed_table($1::regclass, $2)", rel, by); err != nil {
		return fmt.Errorf("distribute %s by %s: %w", rel, by, pg.Explain(err))
	}
	return nil
}

// Reference makes the empty table rel a reference table, copied whole to
// every node (create_reference_table). It does nothing on plain
// PostgreSQL.
func (e *Engine) Reference(ctx context.Context, q Querier, rel string) error {
	if !e.IsCitus() {
		return nil
	}
	if _, err := q.Exec(ctx, "SELECT create_reference_table($1::regclass)", rel); err != nil {
		return fmt.Errorf("make %s a reference table: %w", rel, pg.Explain(err))
	}
	return nil
}

// DistributeLoaded shards the table rel, which may hold rows already (a
// staging table a migration made), by its column by, the first time it
// finds it local, keeping its rows (create_distributed_table, then the
// coordinator's local copy truncated); a table distributed already is left
// as it is. It does nothing on plain PostgreSQL.
func (e *Engine) DistributeLoaded(ctx context.Context, q Querier, rel, by string) error {
	if !e.IsCitus() {
		return nil
	}
	if _, err := q.Exec(ctx, `SELECT create_distributed_table(t::regclass, $2), truncate_local_data_after_distributing_table(t::regclass)
		FROM (SELECT $1::text AS t) AS r
		WHERE NOT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = $1::regclass)`, rel, by); err != nil {
		return fmt.Errorf("distribute %s by %s: %w", rel, by, err)
	}
	return nil
}
