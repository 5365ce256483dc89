package warehouse

import (
	"context"
	"fmt"

	"github.com/percolate/percolate/internal/pg"
)

// Distribute shards the empty table rel by its column by
// (create_distributed_table), co-located with the oldest table sharded by
// a column of by's type and collation (the sources' staging tables,
// distributed first; Citus co-locates no other),
// so that their joins and sums by that column run on the workers. Only
// when there is none does the cluster's citus.shard_count choose its
// shards: a model, made again at every whole build, would otherwise land
// in a group of its own once the setting changed, and every statement
// joining it to the staging tables would be repartitioned. A table is
// distributed while empty and filled after, by INSERT … SELECT that the
// workers run shard by shard. It does nothing on plain PostgreSQL.
func (e *Engine) Distribute(ctx context.Context, q Querier, rel, by string) error {
	if !e.IsCitus() {
		return nil
	}
	with, _, err := colocation(ctx, q, rel, by)
	if err != nil {
		return fmt.Errorf("distribute %s by %s: %w", rel, by, pg.Explain(err))
	}
	if _, err := q.Exec(ctx, "SELECT create_distributed_table($1::regclass, $2, colocate_with => $3)", rel, by, with); err != nil {
		return fmt.Errorf("distribute %s by %s: %w", rel, by, pg.Explain(err))
	}
	return nil
}

// colocation is the table Distribute co-locates rel with when it shards it
// by its column by, and its group: the oldest other table sharded by a
// column of by's type and collation, or "default" (and 0) when there is
// none. A spare table (pg.SpareSchema) is never chosen: a build beside
// this one may be moving it out, or dropping it.
func colocation(ctx context.Context, q Querier, rel, by string) (string, int64, error) {
	var with string
	var group int64
	err := q.QueryRow(ctx, `SELECT coalesce(min(p.logicalrelid::text), 'default'), coalesce(min(p.colocationid), 0) FROM (
		SELECT p.logicalrelid, p.colocationid FROM pg_dist_partition AS p
		JOIN pg_class AS c ON c.oid = p.logicalrelid
		JOIN pg_attribute AS a ON a.attrelid = p.logicalrelid AND a.attname = column_to_column_name(p.logicalrelid, p.partkey)
		WHERE p.partmethod = 'h' AND p.logicalrelid <> $1::regclass AND c.relnamespace <> coalesce(to_regnamespace($3)::oid, 0)
		  AND (a.atttypid, a.attcollation) = (SELECT atttypid, attcollation FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2)
		ORDER BY p.colocationid, p.logicalrelid::oid LIMIT 1) AS p`, rel, by, pg.SpareSchema).Scan(&with, &group)
	return with, group, err
}

// Shaped reports whether the table rel is distributed as Distribute would
// shard it by by today (co-located alike), or, by "", a reference table as
// Reference makes it: a table kept from an earlier build may then be
// filled again as it is. It is false on plain PostgreSQL.
func (e *Engine) Shaped(ctx context.Context, q Querier, rel, by string) (bool, error) {
	if !e.IsCitus() {
		return false, nil
	}
	var group int64
	if by != "" {
		var err error
		if _, group, err = colocation(ctx, q, rel, by); err != nil {
			return false, fmt.Errorf("read how %s is distributed: %w", rel, err)
		}
	}
	var shaped bool
	err := q.QueryRow(ctx, `SELECT coalesce((
		SELECT CASE WHEN $2 = '' THEN p.partmethod = 'n' AND p.repmodel = 't'
		       ELSE p.partmethod = 'h' AND column_to_column_name(p.logicalrelid, p.partkey) = $2 AND ($3 = 0 OR p.colocationid = $3) END
		FROM pg_dist_partition AS p WHERE p.logicalrelid = $1::regclass), false)`, rel, by, group).Scan(&shaped)
	if err != nil {
		return false, fmt.Errorf("read how %s is distributed: %w", rel, err)
	}
	return shaped, nil
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
