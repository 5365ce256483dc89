package build

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	wh "github.com/percolate/percolate/internal/warehouse"
)

// freshen readies the source tables a build reads, right after a load and
// before autovacuum would. BRIN ranges filled since the last summary are
// summarized (until then a BRIN index returns them all). Where the buffer
// pool cannot hold a table (more than a quarter of shared_buffers), VACUUM
// does that and also sets the hint bits of the rows just loaded, once, in
// one pass: the first query to read them would, writing every page back as
// the small pool turns over (on a stock server, the product mart of a year
// took 10.7 s instead of 4.6 s); it visits only pages not yet all-visible,
// so it costs what was loaded. A table that changed by more than a tenth
// since it was last analyzed is analyzed, from a small sample, so that the
// planner knows a day is a small part of it (warehouse's AnalyzeSample).
func freshen(ctx context.Context, pool *pgxpool.Pool, engine *wh.Engine, tables []string) error {
	rows, err := pool.Query(ctx, `
		SELECT c.oid::regclass::text,
		       coalesce(s.n_mod_since_analyze > 0.1 * greatest(s.n_live_tup, 1) OR s.last_analyze IS NULL AND s.last_autoanalyze IS NULL, true),
		       pg_relation_size(c.oid) > (SELECT setting::bigint * 8192 / 4 FROM pg_settings WHERE name = 'shared_buffers'),
		       coalesce((SELECT array_agg(i.indexrelid::regclass::text) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
		                 JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = c.oid AND am.amname = 'brin'), '{}')
		FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
		WHERE c.oid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)`, tables)
	if err != nil {
		return err
	}
	type table struct {
		name       string
		stale, big bool
		brin       []string
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var t table
		err := r.Scan(&t.name, &t.stale, &t.big, &t.brin)
		return t, err
	})
	if err != nil {
		return err
	}
	// The tables side by side, one connection each: on the year, the
	// orders' and the items' summaries and statistics take 2.1 s one after
	// the other, with a core idle.
	errs := make(chan error, len(list))
	for _, t := range list {
		go func() { errs <- freshenOne(ctx, pool, engine, t.name, t.stale, t.big, t.brin) }()
	}
	var first error
	for range list {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// freshenOne is freshen of one table, named as regclass's text (quoted as
// it needs to be).
func freshenOne(ctx context.Context, pool *pgxpool.Pool, engine *wh.Engine, name string, stale, big bool, brin []string) error {
	if big {
		if _, err := pool.Exec(ctx, "VACUUM "+name); err != nil {
			return fmt.Errorf("vacuum %s: %w", name, err)
		}
	} else {
		for _, ix := range brin {
			if _, err := pool.Exec(ctx, "SELECT brin_summarize_new_values($1::regclass)", ix); err != nil {
				return fmt.Errorf("summarize %s: %w", ix, err)
			}
		}
	}
	if stale {
		if err := engine.AnalyzeSample(ctx, pool, name); err != nil {
			return err
		}
	}
	return nil
}

// builtTables lists the source tables that the plan's builds read.
func builtTables(plan *Plan) []string {
	var out []string
	for _, s := range plan.Steps {
		if !s.Build {
			continue
		}
		for _, t := range s.tables {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}
