package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestUnitTests runs every unit test of the cafe project: each mart and
// core model has some, and all pass on a database that holds nothing but
// the ledger (which every command installs).
func TestUnitTests(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, root, url, "migrate", "status")
	if n := scalar[int64](t, pool, "SELECT count(*) FROM pg_class WHERE relnamespace::regnamespace::text IN ('staging', 'core', 'marts')"); n != 0 {
		t.Fatalf("the ledger's install made %d relations of the project", n)
	}
	relations := func() int64 {
		return scalar[int64](t, pool, "SELECT count(*) FROM pg_class WHERE relnamespace::regnamespace::text NOT LIKE 'pg_%'")
	}
	before := relations()
	for _, schema := range []string{"core", "marts"} {
		sqls, _ := filepath.Glob(filepath.Join(root, "models", schema, "*.sql"))
		for _, s := range sqls {
			if _, err := os.Stat(strings.TrimSuffix(s, ".sql") + ".test.yaml"); err != nil {
				t.Errorf("%s has no unit tests: %v", s, err)
			}
		}
	}
	r := mustRun(t, root, url, "test", "--unit", "--output", "json")
	var out struct {
		Cases []struct {
			Model, Case string
			Passed      bool
		}
		Failed int
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v in:\n%s", err, r.stdout)
	}
	if out.Failed != 0 || len(out.Cases) < 15 {
		t.Fatalf("got %d cases, %d failed, want at least 15, none failed:\n%s", len(out.Cases), out.Failed, r.stdout)
	}
	models := map[string]bool{}
	for _, c := range out.Cases {
		models[c.Model] = true
	}
	for _, m := range []string{"marts.branch_daily_sales", "marts.hourly_sales", "marts.product_daily_sales", "core.order_sums", "core.orders", "core.order_items", "core.products", "core.product_days", "core.branches"} {
		if !models[m] {
			t.Errorf("no case of %s ran", m)
		}
	}
	if after := relations(); after != before {
		t.Errorf("relations outside pg_catalog: %d before, %d after: unit tests must leave nothing", before, after)
	}
	r = mustRun(t, root, url, "test", "--unit", "--select", "marts.hourly_sales")
	if !strings.Contains(r.stdout, "ok   marts.hourly_sales › cash and card are one hour") || strings.Contains(r.stdout, "core.") {
		t.Errorf("--select marts.hourly_sales ran:\n%s", r.stdout)
	}
}

// TestUnitTestCatchesABug counts cash as card revenue: the case that
// splits them fails and says which column, by how much.
func TestUnitTestCatchesABug(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "FILTER (WHERE payment_method = 'CARD')", "FILTER (WHERE payment_method IN ('CARD', 'CASH'))")
	r := percolate(t, dir, url, "test", "--unit", "--select", "marts.branch_daily_sales")
	if r.code != ExitFailure {
		t.Fatalf("exit %d, want %d:\n%s%s", r.code, ExitFailure, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"FAIL marts.branch_daily_sales › cash and card are split",
		`~ changed    {"branch": "Chesterfield", "sales_date": "2022-03-01"}: card_revenue: want 7.00, got 9.45`,
		"ok   marts.branch_daily_sales › average order value is rounded half up to the penny",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "1 unit test case(s) failed") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestUnitTestFileErrors: a test file that cannot be read is a usage
// error naming the file and line; a value its column refuses fails the
// case, naming the row's line.
func TestUnitTestFileErrors(t *testing.T) {
	url := pgtest.URL(t)
	for _, tc := range []struct {
		name, old, new string
		code           int
		want           string
	}{
		{"misspelt key", "    expect:\n", "    expected:\n", ExitUsage, "order_sums.test.yaml:13: unknown key \"expected\""},
		{"relation not read", "      core.orders:\n", "      staging.transactions:\n", ExitUsage, "order_sums.test.yaml:6: case \"orders are summed by branch, day, local hour and payment\": given staging.transactions: core.order_sums does not read it (it reads core.orders)"},
		{"no such column", "total: 2.45,", "totl: 2.45,", ExitFailure, "order_sums.test.yaml:8: given core.orders: no column totl"},
		{"value its column refuses", "total: 2.45,", "total: two,", ExitFailure, `order_sums.test.yaml:8: given core.orders: invalid input syntax for type numeric: "two"`},
		{"expected column the model lacks", "orders: 1, items: 3, revenue: 4.00}", "orders: 1, items: 3, revenue: 4.00, weekday: 3}",
			ExitFailure, "order_sums.test.yaml:26: expect: no column weekday"},
		{"rows naming other columns", "hour: 9, payment_method: CARD, orders: 2, items: 3", "hour: 9", ExitUsage, "order_sums.test.yaml:14: case \"orders are summed by branch, day, local hour and payment\": expect: every row names the same columns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tempProject(t)
			edit(t, filepath.Join(dir, "models/core/order_sums.test.yaml"), tc.old, tc.new)
			r := percolate(t, dir, url, "test", "--unit", "--select", "core.order_sums")
			if r.code != tc.code || !strings.Contains(r.stdout+r.stderr, tc.want) {
				t.Errorf("exit %d, want %d and %q in:\n%s%s", r.code, tc.code, tc.want, r.stdout, r.stderr)
			}
		})
	}
}
