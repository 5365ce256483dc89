package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestEnvCitus tries an edit in an environment on Citus: the edited mart is
// built there, the rest are views over distributed tables, a live publish
// replaces those tables through the environment's views, and dropping the
// environment leaves no relation behind.
func TestEnvCitus(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.CitusURL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "FILTER (WHERE payment_method = 'CARD')", "FILTER (WHERE payment_method IN ('CARD', 'CASH'))")
	before := checksums(t, pool)
	r := mustRun(t, dir, url, "run", "--env", "dev")
	if !strings.Contains(r.stdout, "build  marts.branch_daily_sales → marts__dev.branch_daily_sales") {
		t.Errorf("run --env on Citus: got %q, want the edited mart built", r.stdout)
	}
	after := checksums(t, pool)
	delete(before, `"percolate"."env_builds"`)
	delete(after, `"percolate"."env_builds"`)
	sameRelations(t, before, after)
	differ := scalar[int64](t, pool, `SELECT count(*) FROM marts__dev.branch_daily_sales d JOIN marts.branch_daily_sales l USING (branch, sales_date)
		WHERE d.card_revenue <> l.card_revenue`)
	if differ == 0 {
		t.Error("the environment's mart has the live card revenue: the edit was not built")
	}
	// core.orders is distributed: its view in the environment reads it.
	if n := scalar[int64](t, pool, "SELECT count(*) FROM core__dev.orders"); n != scalar[int64](t, pool, "SELECT count(*) FROM core.orders") {
		t.Errorf("core__dev.orders: got %d rows, want live's", n)
	}
	mustRun(t, dir, url, "run", "--full-refresh")
	mustRun(t, dir, url, "env", "drop", "dev")
	if left := scalar[int64](t, pool, `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE '%\_\_dev'`); left != 0 {
		t.Errorf("after env drop on Citus: got %d relations of the environment, want none", left)
	}
}
