package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestEnv edits a mart and tries it in environment dev: only that mart is
// built there (whole, though incremental), every other model is a view
// over live, nothing live moves (relations and the live ledger), diff
// --env says what changed, a live publish goes through the environment's
// views, and dropping it leaves no relation behind.
func TestEnv(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "FILTER (WHERE payment_method = 'CARD')", "FILTER (WHERE payment_method IN ('CARD', 'CASH'))")
	before := checksums(t, pool)
	files := relfilenodes(t, pool)

	r := mustRun(t, dir, url, "plan", "--env", "dev")
	for _, want := range []string{"build  marts.branch_daily_sales", "build  core.branches", "live   core.orders"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plan --env: got %q, want a line %q", r.stdout, want)
		}
	}
	r = mustRun(t, dir, url, "run", "--env", "dev")
	if !strings.Contains(r.stdout, "build  marts.branch_daily_sales → marts__dev.branch_daily_sales") {
		t.Errorf("run --env: got %q, want the edited mart built", r.stdout)
	}
	r = mustRun(t, dir, url, "test", "--env", "dev")
	if !strings.Contains(r.stdout, "marts.branch_daily_sales") || !strings.Contains(r.stdout, "in environment dev") {
		t.Errorf("test --env: got %q, want the mart's checks in environment dev", r.stdout)
	}
	after := checksums(t, pool)
	if got := relfilenodes(t, pool); got != files {
		t.Errorf("live tables' files: got %s, want %s (a live table was rewritten)", got, files)
	}
	delete(before, `"percolate"."env_builds"`)
	delete(after, `"percolate"."env_builds"`)
	sameRelations(t, before, after)

	t.Run("only the edit is built", func(t *testing.T) {
		tables := scalar[string](t, pool, `SELECT string_agg(n.nspname || '.' || c.relname, ',' ORDER BY n.nspname || '.' || c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname LIKE '%\_\_dev' AND c.relkind = 'r'`)
		// core.branches reads the mart: it is downstream of the edit.
		if tables != "core__dev.branches,marts__dev.branch_daily_sales" {
			t.Errorf("tables in the environment: got %q, want core__dev.branches,marts__dev.branch_daily_sales", tables)
		}
		views := scalar[int64](t, pool, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE '%\_\_dev' AND c.relkind = 'v'`)
		models := scalar[int64](t, pool, `SELECT count(DISTINCT model) FROM percolate.model_builds`)
		if views != models-2 {
			t.Errorf("views in the environment: got %d, want %d (every model but the two tables)", views, models-2)
		}
		// A changed view reads the environment's edited mart, not live's.
		def := scalar[string](t, pool, "SELECT pg_get_viewdef('health__dev.deliveries'::regclass)")
		if !strings.Contains(def, "marts__dev.branch_daily_sales") {
			t.Errorf("health__dev.deliveries: got %q, want it to read marts__dev.branch_daily_sales", def)
		}
		differ := scalar[int64](t, pool, `SELECT count(*) FROM marts__dev.branch_daily_sales d JOIN marts.branch_daily_sales l USING (branch, sales_date)
			WHERE d.card_revenue <> l.card_revenue`)
		if differ == 0 {
			t.Error("the environment's mart has the live card revenue: the edit was not built")
		}
	})

	t.Run("diff --env", func(t *testing.T) {
		r := mustRun(t, dir, url, "diff", "--env", "dev", "--output", "json")
		var rep struct {
			Models []struct {
				Model   string
				Changed int64
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		changed := map[string]int64{}
		for _, m := range rep.Models {
			changed[m.Model] = m.Changed
		}
		if changed["marts.branch_daily_sales"] == 0 || len(rep.Models) != 4 {
			t.Errorf("diff --env dev: got %+v, want the 4 models built, marts.branch_daily_sales with changed rows", rep.Models)
		}
	})

	t.Run("dashboards on the environment", func(t *testing.T) {
		mustRun(t, dir, url, "grafana", "--env", "dev")
		b, err := os.ReadFile(filepath.Join(dir, "grafana/dashboards/env/sales-overview__dev.json"))
		if err != nil {
			t.Fatal(err)
		}
		js := string(b)
		if live := regexp.MustCompile(`[^_a-z](marts|core)\.[a-z]`).FindString(js); live != "" || !strings.Contains(js, "marts__dev.branch_daily_sales") || !strings.Contains(js, `"uid": "percolate-sales-dev"`) {
			t.Errorf("sales-overview__dev.json: reads live (%q), or not marts__dev.branch_daily_sales, or uid not percolate-sales-dev", live)
		}
		// The reader reads the environment's marts, and no more than live.
		tx, err := pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(t.Context())
		var n int64
		if _, err := tx.Exec(t.Context(), "SET LOCAL ROLE percolate_grafana"); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRow(t.Context(), "SELECT count(*) FROM marts__dev.branch_daily_sales").Scan(&n); err != nil || n == 0 {
			t.Errorf("percolate_grafana reading marts__dev.branch_daily_sales: got %d rows, %v; want rows", n, err)
		}
		if _, err := tx.Exec(t.Context(), "SELECT count(*) FROM core__dev.orders"); err == nil {
			t.Error("percolate_grafana read core__dev.orders: want permission denied, as for core.orders")
		}
	})

	t.Run("a second run builds nothing new", func(t *testing.T) {
		r := mustRun(t, dir, url, "run", "--env", "dev")
		if !strings.Contains(r.stdout, "environment dev: 0 tables built") {
			t.Errorf("second run --env: got %q, want 0 built", r.stdout)
		}
	})

	t.Run("env list", func(t *testing.T) {
		r := mustRun(t, dir, url, "env", "list")
		if !strings.HasPrefix(r.stdout, "dev\t4 models built (core.branches, health.deliveries, health.freshness, marts.branch_daily_sales)") {
			t.Errorf("env list: got %q", r.stdout)
		}
	})

	t.Run("a live publish is not stopped by the environment", func(t *testing.T) {
		mustRun(t, dir, url, "run", "--full-refresh")
		mustRun(t, dir, url, "run", "--env", "dev")
	})

	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"Dev", "next", "a__b", "dev-1", strings.Repeat("x", 21)} {
			if r := percolate(t, dir, url, "run", "--env", name); r.code != 2 {
				t.Errorf("run --env %q: got exit %d, want 2 (%s)", name, r.code, r.stderr)
			}
		}
	})

	t.Run("env drop leaves nothing", func(t *testing.T) {
		mustRun(t, dir, url, "env", "drop", "dev")
		left := scalar[int64](t, pool, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE '%\_\_dev'`)
		schemas := scalar[int64](t, pool, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE '%\_\_dev'`)
		rows := scalar[int64](t, pool, `SELECT count(*) FROM percolate.env_builds`)
		if left+schemas+rows != 0 {
			t.Errorf("after env drop: got %d relations, %d schemas, %d ledger rows, want none", left, schemas, rows)
		}
	})
}

// relfilenodes is every live table of the models' schemas with its file
// and the transaction that wrote its catalog row: a rebuilt or rewritten
// table changes them.
func relfilenodes(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	return scalar[string](t, pool, `SELECT string_agg(n.nspname || '.' || c.relname || ':' || c.relfilenode || ':' || c.xmin, ',' ORDER BY n.nspname, c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('core', 'marts', 'health', 'staging') AND c.relkind = 'r'`)
}
