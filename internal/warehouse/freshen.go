package warehouse

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Freshen readies the tables a build reads, right after a load and
// before autovacuum would. BRIN ranges filled since the last summary are
// summarized (until then a BRIN index returns them all). Where the buffer
// pool cannot hold a table (more than a quarter of shared_buffers), VACUUM
// does that and also sets the hint bits of the rows just loaded, once, in
// one pass: the first query to read them would, writing every page back as
// the small pool turns over (on a stock server, the product mart of a year
// took 10.7 s instead of 4.6 s); it visits only pages not yet all-visible,
// so it costs what was loaded. A table that changed by more than a tenth
// since it was last analyzed is analyzed, from a small sample, so that the
// planner knows a day is a small part of it (AnalyzeSample).
//
// On Citus the rows, their indexes and their statistics are the shards',
// on the workers; the coordinator's table is an empty shell, whose size is
// 0, whose BRIN indexes have nothing to summarize and whose counts of
// changed rows never move. Each is asked of the shards, one statement a
// node (see nodeFreshness).
func (e *Engine) Freshen(ctx context.Context, pool *pgxpool.Pool, tables []string) error {
	list, err := e.freshness(ctx, pool, tables)
	if err != nil {
		return fmt.Errorf("warehouse: freshen: %w", err)
	}
	// The tables side by side, one connection each: on the year, the
	// orders' and the items' summaries and statistics take 2.1 s one after
	// the other, with a core idle.
	errs := make(chan error, len(list))
	for _, t := range list {
		go func() { errs <- e.freshenOne(ctx, pool, t) }()
	}
	var first error
	for range list {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// freshTable is what Freshen does to one table, named as regclass's text
// (quoted as it needs to be): analyze it (stale), vacuum it (big), or
// summarize its BRIN indexes (brin).
type freshTable struct {
	name       string
	stale, big bool
	brin       []string
}

// freshness finds, of tables, those that exist, and what each needs.
func (e *Engine) freshness(ctx context.Context, pool *pgxpool.Pool, tables []string) ([]freshTable, error) {
	rows, err := pool.Query(ctx, `
		SELECT c.oid::regclass::text,
		       coalesce(s.n_mod_since_analyze > 0.1 * greatest(s.n_live_tup, 1) OR s.last_analyze IS NULL AND s.last_autoanalyze IS NULL, true),
		       pg_relation_size(c.oid) > (SELECT setting::bigint * 8192 / 4 FROM pg_settings WHERE name = 'shared_buffers'),
		       coalesce((SELECT array_agg(i.indexrelid::regclass::text) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		                 JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = c.oid AND am.amname = 'brin'), '{}')
		FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
		WHERE c.oid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)`, tables)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (freshTable, error) {
		var t freshTable
		err := r.Scan(&t.name, &t.stale, &t.big, &t.brin)
		return t, err
	})
}

// freshenOne is Freshen of one table.
func (e *Engine) freshenOne(ctx context.Context, pool *pgxpool.Pool, t freshTable) error {
	sharded := false
	if e.IsCitus() {
		var err error
		if sharded, err = e.freshenShards(ctx, pool, &t); err != nil {
			return err
		}
	}
	switch {
	case t.big:
		// On Citus, VACUUM of a distributed table vacuums its shards.
		if _, err := pool.Exec(ctx, "VACUUM "+t.name); err != nil {
			return fmt.Errorf("warehouse: vacuum %s: %w", t.name, err)
		}
	case sharded:
		// freshenShards summarized them.
	default:
		for _, ix := range t.brin {
			if _, err := pool.Exec(ctx, "SELECT brin_summarize_new_values($1::regclass)", ix); err != nil {
				return fmt.Errorf("warehouse: summarize %s: %w", ix, err)
			}
		}
	}
	if t.stale {
		if err := e.AnalyzeSample(ctx, pool, t.name); err != nil {
			return err
		}
	}
	return nil
}

// nodeFreshness is run on every node of a Citus cluster (%L is the
// table): whether any of the table's shards there is stale; whether they
// are big together, as Freshen counts a table on one server (a node's
// buffer pool holds the shards it has); and, when they are not, their
// BRIN indexes summarized. One statement a node, where a command a shard
// (run_command_on_placements) opened a connection apiece: 5.6 s for the
// year's orders' 32 shards, where this takes 1.3 s. It reads no catalog
// view that joins pg_class, which a node filters of its shards for some
// clients, only functions of each shard's oid; the shards are found in
// Citus's metadata, which every node has.
const nodeFreshness = `WITH t AS (
	    SELECT to_regclass(shard_name(s.logicalrelid, s.shardid)) AS r
	    FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
	    WHERE s.logicalrelid = %L::regclass AND p.groupid = (SELECT groupid FROM pg_dist_local_group)
	), b AS (
	    SELECT coalesce(sum(pg_relation_size(r)), 0) > (SELECT setting::bigint * 8192 / 4 FROM pg_settings WHERE name = 'shared_buffers') AS big FROM t
	)
	SELECT coalesce(bool_or(stale), false)::text || ' ' || (SELECT big FROM b)::text || ' ' || coalesce(sum(n), 0)
	FROM (SELECT pg_stat_get_mod_since_analyze(r) > 0.1 * greatest(pg_stat_get_live_tuples(r), 1)
	             OR pg_stat_get_last_analyze_time(r) IS NULL AND pg_stat_get_last_autoanalyze_time(r) IS NULL AS stale,
	             (SELECT count(brin_summarize_new_values(i.indexrelid)) FROM pg_index i
	              WHERE i.indrelid = t.r AND NOT (SELECT big FROM b) AND pg_get_indexdef(i.indexrelid) ~ ' USING brin ') AS n
	      FROM t) AS s`

// freshenShards asks the nodes of a Citus cluster, of t's shards, what
// the shell on the coordinator cannot say (see Freshen), summarizing
// their BRIN indexes on the way where they are not big, and reports
// whether t is sharded: a table of the coordinator alone is freshened as
// on one server.
func (e *Engine) freshenShards(ctx context.Context, pool *pgxpool.Pool, t *freshTable) (bool, error) {
	var sharded bool
	if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = $1::regclass)", t.name).Scan(&sharded); err != nil {
		return false, fmt.Errorf("warehouse: freshen %s: %w", t.name, err)
	}
	if !sharded {
		return false, nil
	}
	rows, err := pool.Query(ctx, "SELECT success, result FROM run_command_on_all_nodes(format($2, $1::regclass::text))", t.name, nodeFreshness)
	if err != nil {
		return false, fmt.Errorf("warehouse: freshen %s's shards: %w", t.name, err)
	}
	t.stale, t.big = false, false
	var ok bool
	var result string
	_, err = pgx.ForEachRow(rows, []any{&ok, &result}, func() error {
		var stale, big bool
		var summarized int
		if !ok {
			return fmt.Errorf("a node: %s", result)
		}
		if _, err := fmt.Sscanf(result, "%t %t %d", &stale, &big, &summarized); err != nil {
			return fmt.Errorf("a node said %q: %w", result, err)
		}
		t.stale, t.big = t.stale || stale, t.big || big
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("warehouse: freshen %s's shards: %w", t.name, err)
	}
	return true, nil
}
