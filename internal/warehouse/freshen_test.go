package warehouse

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pgtest"
)

// onShards is the statement that sums what a command says of every
// placement of table d (or those named) on Citus (%1$s is the shard), and
// of d itself on one server.
func onShards(e *Engine, command string, tables ...string) string {
	if len(tables) == 0 {
		tables = []string{"d"}
	}
	var sums []string
	for _, d := range tables {
		if e.IsCitus() {
			sums = append(sums, "(SELECT sum(result::bigint)::bigint FROM run_command_on_placements('"+strings.ReplaceAll(d, "'", "''")+"', $$"+command+"$$))")
		} else {
			sums = append(sums, "("+strings.ReplaceAll(command, "%1$s", d)+")::bigint")
		}
	}
	return "SELECT " + strings.Join(sums, " + ")
}

// unsummarized summarizes what Freshen left unsummarized of d's BRIN
// index, on every shard, and counts those ranges.
const unsummarized = `SELECT coalesce(sum(brin_summarize_new_values(indexrelid)), 0) FROM pg_index WHERE indrelid = '%1$s'::regclass`

// TestFreshen: after a load, every range of a table's BRIN index is
// summarized, on Citus on every shard (the coordinator's table is an
// empty shell, whose index has nothing to summarize); and a table that
// changed by more than a tenth since it was analyzed is analyzed again, on
// Citus on every shard (the shell's count of changed rows never moves).
func TestFreshen(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name string
		pool func(t *testing.T) *pgxpool.Pool
	}{
		{"PostgreSQL", func(t *testing.T) *pgxpool.Pool { p, _ := pgtest.Pool(t); return p }},
		{"Citus", func(t *testing.T) *pgxpool.Pool { p, _ := citus(t); return p }},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool := c.pool(t)
			e := detect(t, pool)
			// No autovacuum of d: its analysis of the loaded rows, a
			// minute at most after they are counted, would count them
			// away before Freshen is asked (CI saw 0 rows changed).
			exec(t, pool, "CREATE TABLE d (k int, day date) WITH (autovacuum_enabled = false)")
			if err := e.Distribute(ctx, pool, "d", "k"); err != nil {
				t.Fatal(err)
			}
			if got := scalar[int64](t, pool, onShards(e, "SELECT count(*) FROM pg_class WHERE oid = '%1$s'::regclass AND 'autovacuum_enabled=false' = ANY(reloptions)")); got != shards(t, pool, e) {
				t.Fatalf("%d of d's tables without autovacuum, want all %d", got, shards(t, pool, e))
			}
			exec(t, pool, "CREATE INDEX d_day ON d USING brin (day) WITH (pages_per_range = 2)")
			// A second table beside d, freshened in the same call (on
			// Citus, asked of its shards in the same statement a node),
			// whose name must be quoted.
			const d2 = `"d 2"`
			exec(t, pool, "CREATE TABLE "+d2+" (k int, day date) WITH (autovacuum_enabled = false)")
			if err := e.Distribute(ctx, pool, d2, "k"); err != nil {
				t.Fatal(err)
			}
			exec(t, pool, "CREATE INDEX d2_day ON "+d2+" USING brin (day) WITH (pages_per_range = 2)")
			// The rows go in over connections to the workers that close
			// after each insert, so that the workers report what they
			// changed as they close: one kept open reports it once idle,
			// which took most of a minute on a busy machine.
			conn, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			exec(t, conn, "SET citus.max_cached_conns_per_worker = 0")
			for load, rows := range []int{20000, 200000} {
				if _, err := conn.Exec(ctx, "INSERT INTO d SELECT i, date '2024-01-01' + i / 1000 FROM generate_series(1, $1::int) AS i", rows); err != nil {
					t.Fatal(err)
				}
				if load == 1 {
					if _, err := conn.Exec(ctx, "INSERT INTO "+d2+" SELECT i, date '2024-01-01' + i / 1000 FROM generate_series(1, 50000) AS i"); err != nil {
						t.Fatal(err)
					}
					changed(t, pool, e, 50000, d2)
				}
				// The rows counted as changed, where the next analysis is decided.
				changed(t, pool, e, int64(rows))
				if err := e.Freshen(ctx, pool, []string{"d", "missing", d2}); err != nil {
					t.Fatal(err)
				}
				// d2, never analyzed, is at the first; changed by more than a
				// tenth, at the second.
				if got := scalar[int64](t, pool, onShards(e, "SELECT pg_stat_get_analyze_count('%1$s'::regclass)", d2)); got != int64(load+1)*shards(t, pool, e) {
					t.Errorf("load %d: %d analyses of d2's tables, want %d on each", load+1, got, load+1)
				}
				if got := scalar[int64](t, pool, onShards(e, "SELECT pg_stat_get_analyze_count('%1$s'::regclass)")); got != int64(load+1)*shards(t, pool, e) {
					t.Errorf("load %d: %d analyses of d's tables, want %d on each", load+1, got, load+1)
				}
				if got := scalar[int64](t, pool, onShards(e, unsummarized, "d", d2)); got != 0 {
					t.Errorf("load %d: %d ranges of d's BRIN index left unsummarized, want 0", load+1, got)
				}
			}
		})
	}
}

// shards counts the tables that hold d's rows: its placements on Citus.
func shards(t *testing.T, q Querier, e *Engine) int64 {
	t.Helper()
	if !e.IsCitus() {
		return 1
	}
	return scalar[int64](t, q, "SELECT count(*) FROM run_command_on_placements('d', 'SELECT 1')")
}

// changed waits, a minute at most, until the statistics of d's tables
// (or those named) count at least n rows changed since they were
// analyzed: a server reports a connection's counts when it is idle, a
// second at most after its last report.
func changed(t *testing.T, q Querier, e *Engine, n int64, tables ...string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got := scalar[int64](t, q, onShards(e, "SELECT pg_stat_get_mod_since_analyze('%1$s'::regclass)", tables...))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("d's tables count %d rows changed after a minute, want %d", got, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
