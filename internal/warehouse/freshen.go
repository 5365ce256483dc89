package warehouse

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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
	if e.IsCitus() {
		if err := freshenShards(ctx, pool, list); err != nil {
			return err
		}
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
	// sharded is a table of a Citus cluster's workers, which
	// freshenShards asked of its shards (and summarized there).
	sharded bool
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
	switch {
	case t.big:
		// On Citus, VACUUM of a distributed table vacuums its shards.
		if _, err := pool.Exec(ctx, "VACUUM "+t.name); err != nil {
			return fmt.Errorf("warehouse: vacuum %s: %w", t.name, err)
		}
	case t.sharded:
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
// tables' names, a text[]): for each of the tables that has shards there,
// a line "stale big n name": whether any of its shards there is stale;
// whether they are big together, as Freshen counts a table on one server
// (a node's buffer pool holds the shards it has); and, when they are not,
// how many ranges of their BRIN indexes it summarized. One statement a
// node for every table, where one a table (run_command_on_all_nodes opens
// a connection a node each time, whose first statement loads the
// catalog) took 0.3–0.5 s a table for a new day's six staging tables,
// half the night's run; and one a shard (run_command_on_placements) took
// 5.6 s for the year's orders' 32 shards alone. It reads no catalog view
// that joins pg_class, which a node filters of its shards for some
// clients, only functions of each shard's oid; the shards are found in
// Citus's metadata, which every node has.
const nodeFreshness = `WITH t AS (
	    SELECT w.tab, to_regclass(shard_name(s.logicalrelid, s.shardid)) AS r
	    FROM unnest(%L::text[]) AS w (tab)
	    JOIN pg_dist_shard s ON s.logicalrelid = to_regclass(w.tab)
	    JOIN pg_dist_placement p USING (shardid)
	    WHERE p.groupid = (SELECT groupid FROM pg_dist_local_group)
	), b AS (
	    SELECT tab, coalesce(sum(pg_relation_size(r)), 0) > (SELECT setting::bigint * 8192 / 4 FROM pg_settings WHERE name = 'shared_buffers') AS big
	    FROM t GROUP BY tab
	)
	SELECT coalesce(string_agg(stale::text || ' ' || big::text || ' ' || n || ' ' || tab, chr(10)), '')
	FROM (SELECT t.tab, b.big,
	             coalesce(bool_or(pg_stat_get_mod_since_analyze(t.r) > 0.1 * greatest(pg_stat_get_live_tuples(t.r), 1)
	                     OR pg_stat_get_last_analyze_time(t.r) IS NULL AND pg_stat_get_last_autoanalyze_time(t.r) IS NULL), true) AS stale,
	             sum((SELECT count(brin_summarize_new_values(i.indexrelid)) FROM pg_index i
	                  WHERE i.indrelid = t.r AND NOT b.big AND pg_get_indexdef(i.indexrelid) ~ ' USING brin ')) AS n
	      FROM t JOIN b USING (tab) GROUP BY t.tab, b.big) AS s`

// freshenShards asks the nodes of a Citus cluster, of the shards of the
// tables in list, what the shells on the coordinator cannot say (see
// Freshen), summarizing their BRIN indexes on the way where they are not
// big, and marks those tables sharded: a table of the coordinator alone is
// freshened as on one server.
func freshenShards(ctx context.Context, pool *pgxpool.Pool, list []freshTable) error {
	byName := make(map[string]*freshTable, len(list))
	names := make([]string, len(list))
	for i := range list {
		byName[list[i].name], names[i] = &list[i], list[i].name
	}
	rows, err := pool.Query(ctx, `SELECT p.logicalrelid::regclass::text FROM pg_dist_partition p
		WHERE p.logicalrelid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)`, names)
	if err != nil {
		return fmt.Errorf("warehouse: freshen: %w", err)
	}
	sharded, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("warehouse: freshen: %w", err)
	}
	if len(sharded) == 0 {
		return nil
	}
	for _, name := range sharded {
		if t := byName[name]; t != nil {
			t.sharded, t.stale, t.big = true, false, false
		}
	}
	rows, err = pool.Query(ctx, "SELECT success, result FROM run_command_on_all_nodes(format($2, $1::text[]))", sharded, nodeFreshness)
	if err != nil {
		return fmt.Errorf("warehouse: freshen the shards: %w", err)
	}
	var ok bool
	var result string
	answered := map[string]bool{}
	_, err = pgx.ForEachRow(rows, []any{&ok, &result}, func() error {
		if !ok {
			return fmt.Errorf("a node: %s", result)
		}
		for line := range strings.Lines(result) {
			f := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 4)
			var stale, big bool
			var err error
			if len(f) == 4 {
				stale, err = strconv.ParseBool(f[0])
				if err == nil {
					big, err = strconv.ParseBool(f[1])
				}
			}
			t := byName[f[len(f)-1]]
			if len(f) != 4 || err != nil || t == nil {
				return fmt.Errorf("a node said %q", line)
			}
			t.stale, t.big = t.stale || stale, t.big || big
			answered[t.name] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("warehouse: freshen the shards: %w", err)
	}
	for _, name := range sharded {
		if !answered[name] {
			// Its shards found on no node: freshened, it would be left
			// unanalyzed and unsummarized without a word.
			return fmt.Errorf("warehouse: freshen the shards: no node has a shard of %s", name)
		}
	}
	return nil
}
