package cli

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/percolate/percolate/internal/pgtest"
)

// TestModelsLineage follows the card revenue of the branch mart back to
// the staging columns and on to the panels that show it.
func TestModelsLineage(t *testing.T) {
	url := pgtest.URL(t)
	r := mustRun(t, root, url, "models", "lineage", "marts.branch_daily_sales.card_revenue", "--output", "json")
	var out struct {
		Columns []struct {
			Column  string
			From    []string
			Sources []string
			Panels  []struct{ Dashboard, Title string }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out.Columns) != 1 {
		t.Fatalf("%v in:\n%s", err, r.stdout)
	}
	c := out.Columns[0]
	if want := []string{"core.orders.payment_method", "core.orders.total"}; !slices.Equal(c.From, want) {
		t.Errorf("from %v, want %v", c.From, want)
	}
	for _, want := range []string{"staging.transactions.payment_method", "staging.transactions.total", "staging.legacy_transactions.total"} {
		if !slices.Contains(c.Sources, want) {
			t.Errorf("sources %v lack %s", c.Sources, want)
		}
	}
	var panels []string
	for _, p := range c.Panels {
		panels = append(panels, p.Dashboard+" › "+p.Title)
	}
	if want := []string{"Trading patterns › Cash and card", "Trading patterns › Cash and card over time"}; !slices.Equal(panels, want) {
		t.Errorf("panels %v, want %v", panels, want)
	}

	r = mustRun(t, root, url, "models", "lineage", "marts.hourly_sales")
	if !strings.Contains(r.stdout, "marts.hourly_sales.hour\n  computed from   core.orders.ordered_local\n") ||
		!strings.Contains(r.stdout, "Trading patterns › Busiest hours") {
		t.Errorf("lineage of marts.hourly_sales:\n%s", r.stdout)
	}
	if r := percolate(t, root, url, "models", "lineage", "marts.hourly_sales.minute"); r.code != ExitUsage || !strings.Contains(r.stderr, "has no column minute (it has branch, sales_date, hour, orders, revenue)") {
		t.Errorf("a column that does not exist: exit %d: %s", r.code, r.stderr)
	}
}

// TestPlanNamesPanels: an edited model's plan names the panels that read
// what it computes.
func TestPlanNamesPanels(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	mustRun(t, dir, url, "run")
	edit(t, filepath.Join(dir, "models/marts/hourly_sales.sql"), "sum(total) AS revenue", "sum(total) * 1 AS revenue")
	r := mustRun(t, dir, url, "plan", "--output", "json")
	var rep struct{ Panels []string }
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rep.Panels, "Trading patterns › Busiest hours") || slices.Contains(rep.Panels, "Products › Sizes sold") {
		t.Errorf("panels %v: want Busiest hours, not Sizes sold", rep.Panels)
	}
}
