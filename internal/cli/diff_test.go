package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/pgtest"
)

// checksums is every relation of the warehouse and the ledger, with a
// checksum of its rows (and a view's definition).
func checksums(t *testing.T, pool *pgxpool.Pool) map[string]string {
	t.Helper()
	ctx := t.Context()
	rows, err := pool.Query(ctx, `SELECT n.nspname, c.relname, c.relkind::text, coalesce(pg_get_viewdef(c.oid), '')
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname IN ('staging', 'core', 'marts', 'health', 'percolate') AND c.relkind IN ('r', 'p', 'v', 'm')`)
	if err != nil {
		t.Fatal(err)
	}
	type rel struct{ schema, name, kind, def string }
	rels, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (rel, error) {
		var x rel
		return x, r.Scan(&x.schema, &x.name, &x.kind, &x.def)
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rels {
		name := pgx.Identifier{r.schema, r.name}.Sanitize()
		sum := scalar[string](t, pool, fmt.Sprintf("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM %s AS t", name))
		out[name] = r.kind + " " + sum + " " + r.def
	}
	if len(out) < 20 {
		t.Fatalf("only %d relations: %v", len(out), out)
	}
	return out
}

// sameRelations fails the test where the relations differ from before.
func sameRelations(t *testing.T, before, after map[string]string) {
	t.Helper()
	for rel, sum := range before {
		if after[rel] != sum {
			t.Errorf("%s changed", rel)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d relations before, %d after", len(before), len(after))
	}
}

// TestDiff counts cash as card revenue and asks what that would change:
// every branch-day with cash changes its card revenue, the panels that
// show it are named, and nothing in the warehouse or the ledger moves.
func TestDiff(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, dir, url, "run")
	edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "FILTER (WHERE payment_method = 'CARD')", "FILTER (WHERE payment_method IN ('CARD', 'CASH'))")
	before := checksums(t, pool)
	cashDays := scalar[int64](t, pool, "SELECT count(*) FROM marts.branch_daily_sales WHERE cash_revenue > 0")
	if cashDays == 0 {
		t.Fatal("no day with cash in the sample data")
	}

	r := mustRun(t, dir, url, "diff", "--output", "json")
	var rep struct {
		Models []struct {
			Model                   string
			Key                     []string
			Added, Removed, Changed int64
			Columns                 map[string]int64
			Sample                  []struct{ Key, Before, After map[string]any }
			Panels                  []string
		}
		Panels []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("%v in:\n%s", err, r.stdout)
	}
	if len(rep.Models) == 0 || rep.Models[0].Model != "marts.branch_daily_sales" {
		t.Fatalf("models: %+v", rep.Models)
	}
	d := rep.Models[0]
	if d.Added != 0 || d.Removed != 0 || d.Changed != cashDays || len(d.Columns) != 1 || d.Columns["card_revenue"] != cashDays {
		t.Errorf("got added %d, removed %d, changed %d, columns %v; want 0, 0, %d, card_revenue %d", d.Added, d.Removed, d.Changed, d.Columns, cashDays, cashDays)
	}
	if len(d.Sample) == 0 || d.Sample[0].Before["card_revenue"] == nil || d.Sample[0].After["card_revenue"] == nil || d.Sample[0].Key["branch"] == nil {
		t.Errorf("sample: %+v", d.Sample)
	}
	if strings.Join(d.Panels, "; ") != "Trading patterns › Cash and card; Trading patterns › Cash and card over time" {
		t.Errorf("panels: %v", d.Panels)
	}
	for _, m := range rep.Models[1:] {
		if m.Added+m.Removed+m.Changed != 0 {
			t.Errorf("%s differs: %+v", m.Model, m)
		}
	}
	sameRelations(t, before, checksums(t, pool))

	md := mustRun(t, dir, url, "diff", "--output", "markdown").stdout
	if !strings.Contains(md, fmt.Sprintf("| `marts.branch_daily_sales` | %d → %[1]d | 0 | 0 | %d | `card_revenue` %[2]d |", scalar[int64](t, pool, "SELECT count(*) FROM marts.branch_daily_sales"), cashDays)) {
		t.Errorf("markdown:\n%s", md)
	}
	// The edit is still to be built: the ledger does not know of the diff.
	if plan := mustRun(t, dir, url, "plan").stdout; !strings.Contains(plan, "build marts.branch_daily_sales") {
		t.Errorf("plan after diff:\n%s", plan)
	}

	t.Run("a new model is all rows added", func(t *testing.T) {
		model := filepath.Join(dir, "models/marts/weekly_sales.sql")
		if err := os.WriteFile(model, []byte("-- materialized: table\n-- check: unique(branch, week)\nSELECT branch, date_trunc('week', sales_date)::date AS week, sum(revenue) AS revenue\nFROM marts.branch_daily_sales GROUP BY 1, 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(model)
		r := mustRun(t, dir, url, "diff", "--select", "marts.weekly_sales", "--output", "json")
		var rep struct {
			Models []struct {
				New         bool
				Added       int64
				RowsAfter   int64            `json:"rows_after"`
				SampleAdded []map[string]any `json:"sample_added"`
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Models) != 1 {
			t.Fatalf("%v in:\n%s", err, r.stdout)
		}
		weeks := scalar[int64](t, pool, "SELECT count(DISTINCT (branch, date_trunc('week', sales_date))) FROM marts.branch_daily_sales")
		if m := rep.Models[0]; !m.New || m.Added != weeks || m.RowsAfter != weeks || len(m.SampleAdded) == 0 {
			t.Errorf("got %+v, want a new model of %d rows added", m, weeks)
		}
		if got := checksums(t, pool); len(got) != len(before) {
			t.Errorf("%d relations after, want %d", len(got), len(before))
		}
	})
	t.Run("a model without a key is compared whole", func(t *testing.T) {
		// core.orders without its key, and its cash totals doubled.
		model := filepath.Join(dir, "models/core/orders.sql")
		orig, err := os.ReadFile(model)
		if err != nil {
			t.Fatal(err)
		}
		defer os.WriteFile(model, orig, 0o644)
		edit(t, model, "-- key: order_id\n", "")
		edit(t, model, "-- check: unique(order_id)\n", "")
		edit(t, model, "sales_date, total, payment_method, item_count AS items", "sales_date, CASE WHEN payment_method = 'CASH' THEN total * 2 ELSE total END AS total, payment_method, item_count AS items")
		edit(t, model, "d.sales_date, d.total, d.payment_method", "d.sales_date, CASE WHEN d.payment_method = 'CASH' THEN d.total * 2 ELSE d.total END, d.payment_method")
		r := mustRun(t, dir, url, "diff", "--select", "core.orders", "--output", "json")
		var rep struct {
			Models []struct {
				Added, Removed, Changed int64
				SampleAdded             []map[string]any `json:"sample_added"`
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Models) != 1 {
			t.Fatalf("%v in:\n%s", err, r.stdout)
		}
		cash := scalar[int64](t, pool, "SELECT count(*) FROM core.orders WHERE payment_method = 'CASH' AND total <> 0")
		if m := rep.Models[0]; m.Added != cash || m.Removed != cash || m.Changed != 0 || len(m.SampleAdded) == 0 || m.SampleAdded[0]["payment_method"] != "CASH" {
			t.Errorf("got %+v, want %d cash orders added and removed, none changed", m, cash)
		}
	})
	t.Run("a column's new type is said", func(t *testing.T) {
		model := filepath.Join(dir, "models/core/branches.sql")
		edit(t, model, "max(sales_date) AS last_sales_date", "max(sales_date)::text AS last_sales_date")
		defer edit(t, model, "max(sales_date)::text AS last_sales_date", "max(sales_date) AS last_sales_date")
		r := mustRun(t, dir, url, "diff", "--select", "core.branches", "--output", "json")
		var rep struct {
			Models []struct {
				Changed int64
				Retyped map[string]string `json:"columns_retyped"`
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || len(rep.Models) != 1 {
			t.Fatalf("%v in:\n%s", err, r.stdout)
		}
		if m := rep.Models[0]; m.Changed != 0 || m.Retyped["last_sales_date"] != "date → text" || len(m.Retyped) != 1 {
			t.Errorf("got %+v, want last_sales_date date → text and no value changed", m)
		}
	})
	t.Run("a failing check exits 1 and changes nothing", func(t *testing.T) {
		edit(t, filepath.Join(dir, "models/marts/branch_daily_sales.sql"), "-- check: row_count(min: 1)", "-- check: row_count(min: 1000000)")
		r := percolate(t, dir, url, "diff")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "row_count(min: 1000000)") || !strings.Contains(r.stdout, "changed") {
			t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		if got := checksums(t, pool); len(got) != len(before) {
			t.Errorf("%d relations after, want %d", len(got), len(before))
		}
	})
	t.Run("a model that fails to build exits 1", func(t *testing.T) {
		edit(t, filepath.Join(dir, "models/marts/hourly_sales.sql"), "sum(revenue) AS revenue", "sum(revnue) AS revenue")
		r := percolate(t, dir, url, "diff")
		if r.code != ExitFailure || !strings.Contains(r.stderr, "models/marts/hourly_sales.sql:") || !strings.Contains(r.stderr, "revnue") {
			t.Errorf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

// TestDiffTakesTheRunLock: a diff builds beside the live tables and rolls
// back, so it takes the run lock like a run: busy (exit 3) while another
// process holds it.
func TestDiffTakesTheRunLock(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	mustRun(t, root, url, "migrate", "up")
	lock, err := pg.Lock(t.Context(), pool, "run", false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	r := percolate(t, root, url, "diff", "--select", "marts.branch_daily_sales")
	if r.code != ExitBusy || !strings.Contains(r.stderr, "another percolate run holds the lock") {
		t.Errorf("diff during a run: got exit %d, stderr %q; want exit %d saying another run holds the lock", r.code, r.stderr, ExitBusy)
	}
}
