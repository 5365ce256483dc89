package warehouse

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// buildSettings are the planner's settings for a build transaction. The
// interval bounds are unknown when a model's SQL is planned, and a new day
// is not in any statistics yet: the planner would take it for empty and
// join row by row. Builds are batch work: hash joins it is, with their
// tables in memory, and no merge join either: a small set of keys (the
// branch-days to search for repeats, say) estimated at 200 rows made the
// planner sort a year's million orders to disk to merge them with it (10.6
// s where a hash took 4.3 s). Models are built side by side, one per core:
// a query's own parallel workers would only fight them for the cores
// (measured: the three cafe marts together, 3.6 s without, 4.0 s with).
// No JIT: with nested loops off, a plan that must loop (over an unnest of
// each row's items, say) is costed past JIT's threshold however small, and
// compiling it took 0.4 s of a new day's 3 ms product mart; on whole
// builds JIT never paid measurably.
const buildSettings = "SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off; SET LOCAL jit = off; SET LOCAL work_mem = '128MB'; SET LOCAL max_parallel_workers_per_gather = 0"

// citusBuildSettings are added on Citus: DDL follows multi-shard writes,
// and the coordinator's own copy of a reference table must not be written
// by a shortcut the DDL after it cannot follow (see build's citus.go).
const citusBuildSettings = "; SET LOCAL citus.multi_shard_modify_mode TO 'sequential'; SET LOCAL citus.enable_local_execution TO off"

// citusPropagate and citusPropagated enclose the build's settings on
// Citus: they are sent on to the workers' connections of the transaction,
// where the shards' rows are read and written, not kept on the
// coordinator, which only gathers (the workers planned a year's items with
// JIT on and work_mem at its default). Only they: the role a build takes
// after them (SET LOCAL ROLE) must stay the coordinator's, as Citus does
// its own work on the workers as the connected user.
const (
	citusPropagate  = "SET LOCAL citus.propagate_set_commands TO 'local'; "
	citusPropagated = "; SET LOCAL citus.propagate_set_commands TO 'none'"
)

// SetBuild gives the build transaction tx its settings, for as long as it
// lasts, on every node it reaches.
func (e *Engine) SetBuild(ctx context.Context, tx pgx.Tx) error {
	set := buildSettings
	if e.IsCitus() {
		set = citusPropagate + set + citusBuildSettings + citusPropagated
	}
	if _, err := tx.Exec(ctx, set); err != nil {
		return fmt.Errorf("warehouse: build settings: %w", err)
	}
	return nil
}

// SetLookups turns nested loops on (or back off, as SetBuild has them)
// for the rest of the build transaction tx, on every node it reaches: a
// check of a few days looks their references up by index, one by one. On
// Citus the setting goes on to the workers, which run each shard's part:
// kept on the coordinator, the workers hashed every order of a shard to
// check a new day's items (0.33 s of a new day's run after a year, and
// growing with the history).
func (e *Engine) SetLookups(ctx context.Context, q Querier, on bool) error {
	set := "SET LOCAL enable_nestloop = off"
	if on {
		set = "SET LOCAL enable_nestloop = on"
	}
	if e.IsCitus() {
		set = citusPropagate + set + citusPropagated
	}
	if _, err := q.Exec(ctx, set); err != nil {
		return fmt.Errorf("warehouse: lookups: %w", err)
	}
	return nil
}

// SetHelpers lets the statements of the build transaction tx have n
// parallel workers, on cores no other build uses. Not on Citus, whose
// workers run a statement's shards side by side already.
func (e *Engine) SetHelpers(ctx context.Context, tx pgx.Tx, n int) error {
	if n <= 0 || e.IsCitus() {
		return nil
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL max_parallel_workers_per_gather = %d", n)); err != nil {
		return fmt.Errorf("warehouse: %d parallel helpers: %w", n, err)
	}
	return nil
}

// sampleSettings make ANALYZE take a sample of 3,000 rows, not the
// default 30,000: the builds read a source by day and branch, which a
// tenth of the sample estimates as well, and the sample is most of what
// ANALYZE costs (on the year's items, 25 ms instead of 210–360 ms). A
// column given a statistics target of its own (ALTER TABLE … SET
// STATISTICS) keeps it.
const sampleSettings = "SET LOCAL default_statistics_target = 10"

// AnalyzeSample analyzes the table rel from a small sample (see
// sampleSettings), in a transaction of its own. On Citus the sample's size
// is sent on to the workers, which analyze the shards: without it each of
// a distributed table's shards was sampled whole, and the year's staging
// tables took 11.6 s to analyze instead of about 3 s.
func (e *Engine) AnalyzeSample(ctx context.Context, pool *pgxpool.Pool, rel string) error {
	set := sampleSettings
	if e.IsCitus() {
		set = citusPropagate + set + citusPropagated
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, set); err != nil {
			return fmt.Errorf("warehouse: analyze %s: %w", rel, err)
		}
		if _, err := tx.Exec(ctx, "ANALYZE "+rel); err != nil {
			return fmt.Errorf("warehouse: analyze %s: %w", rel, err)
		}
		return nil
	})
}

// AnalyzeBuilt analyzes rel, a table a build made, in the build's
// transaction tx. On Citus each shard is sampled apart, by the worker
// that has it, and at the default target each took the sample one server
// takes of the whole table: on the year's items, 30,000 rows of each of
// eight shards, 1.9–2.8 s where 3,000 of each took 0.7 s. So each shard
// takes its share of the default sample (default_statistics_target, 100
// unless set, divided among the shards, 10 at least, the staging tables'
// sample), and the table's sample is about one server's. A reference
// table, whole on each node, is sampled as on one server.
func (e *Engine) AnalyzeBuilt(ctx context.Context, tx pgx.Tx, rel string) error {
	fail := func(err error) error { return fmt.Errorf("warehouse: analyze %s: %w", rel, err) }
	var target int
	if e.IsCitus() {
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(current_setting('default_statistics_target')::int / n), 0)
			FROM (SELECT count(*) AS n FROM pg_dist_shard AS s JOIN pg_dist_partition AS p USING (logicalrelid)
			      WHERE s.logicalrelid = $1::regclass AND p.partmethod = 'h') AS s WHERE n > 0`, rel).Scan(&target); err != nil {
			return fail(err)
		}
	}
	if target == 0 {
		if _, err := tx.Exec(ctx, "ANALYZE "+rel); err != nil {
			return fail(err)
		}
		return nil
	}
	for _, sql := range []string{
		fmt.Sprintf("%sSET LOCAL default_statistics_target = %d%s", citusPropagate, max(10, target), citusPropagated),
		"ANALYZE " + rel,
		citusPropagate + "RESET default_statistics_target" + citusPropagated,
	} {
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fail(err)
		}
	}
	return nil
}
