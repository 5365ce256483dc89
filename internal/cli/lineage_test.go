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
	if want := []string{"core.order_sums.payment_method", "core.order_sums.revenue"}; !slices.Equal(c.From, want) {
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
	if !strings.Contains(r.stdout, "marts.hourly_sales.hour\n  computed from   core.order_sums.hour\n") ||
		!strings.Contains(r.stdout, "Trading patterns › Busiest hours") {
		t.Errorf("lineage of marts.hourly_sales:\n%s", r.stdout)
	}
	r = mustRun(t, root, url, "models", "lineage", "staging.transactions.payment_method")
	if !strings.Contains(r.stdout, "used by         core.order_sums.payment_method, core.orders.payment_method, marts.branch_daily_sales.card_revenue, marts.branch_daily_sales.cash_revenue\n") {
		t.Errorf("lineage of a staging column:\n%s", r.stdout)
	}
	if r := percolate(t, root, url, "models", "lineage", "marts.hourly_sales.minute"); r.code != ExitUsage || !strings.Contains(r.stderr, "has no column minute (it has branch, sales_date, hour, orders, revenue)") {
		t.Errorf("a column that does not exist: exit %d: %s", r.code, r.stderr)
	}
}

// TestPlanNamesPanels: the plan of an edited model names the columns
// whose SQL changed and the panels that read them, or still name a column
// removed.
func TestPlanNamesPanels(t *testing.T) {
	dir := tempProject(t)
	url := pgtest.URL(t)
	mustRun(t, dir, url, "run")
	plan := func() (edited []string, panels []string) {
		t.Helper()
		var rep struct {
			Models []struct {
				Model         string
				EditedColumns []string `json:"edited_columns"`
			}
			Panels []string
		}
		if err := json.Unmarshal([]byte(mustRun(t, dir, url, "plan", "--output", "json").stdout), &rep); err != nil {
			t.Fatal(err)
		}
		for _, m := range rep.Models {
			if m.Model == "marts.hourly_sales" {
				edited = m.EditedColumns
			}
		}
		return edited, rep.Panels
	}
	model := filepath.Join(dir, "models/marts/hourly_sales.sql")
	edit(t, model, "sum(revenue) AS revenue", "sum(revenue) * 1 AS revenue")
	if edited, panels := plan(); !slices.Equal(edited, []string{"revenue"}) || len(panels) != 0 {
		t.Errorf("revenue edited: columns %v, panels %v; want [revenue] and none (no panel reads it)", edited, panels)
	}
	edit(t, model, "sum(orders)::integer AS orders", "sum(orders)::integer * 1 AS orders")
	want := []string{"Trading patterns › Orders by weekday and hour", "Trading patterns › Busiest hours"}
	if edited, panels := plan(); !slices.Equal(edited, []string{"orders", "revenue"}) || !slices.Equal(panels, want) {
		t.Errorf("orders edited: columns %v, panels %v; want [orders revenue] and %v", edited, panels, want)
	}
	edit(t, model, "GROUP BY branch, sales_date, hour", "GROUP BY branch, sales_date")
	edit(t, model, "       hour,\n", "")
	if edited, panels := plan(); !slices.Contains(edited, "hour") || !slices.Equal(panels, want) {
		t.Errorf("hour removed: columns %v, panels %v; want hour among them and %v", edited, panels, want)
	}
}
