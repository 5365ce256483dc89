package lineage

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/percolate/percolate/internal/dag"
)

var staging = map[string][]string{
	"staging.orders": {"id", "branch", "total", "method", "day"},
	"staging.items":  {"id", "product", "price"},
	"staging.old":    {"id", "branch", "total", "method", "day"},
}

func stagingColumns(rel string) []string { return staging[rel] }

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct {
		name, sql string
		want      map[string]string // output → its columns, comma-separated
		reads     string
	}{
		{"aliases and expressions", `SELECT o.branch AS b, sum(o.total) FILTER (WHERE o.method = 'CASH') AS cash, count(*) AS n FROM staging.orders AS o GROUP BY o.branch`,
			map[string]string{"b": "staging.orders.branch", "cash": "staging.orders.method,staging.orders.total", "n": ""},
			"staging.orders.branch,staging.orders.method,staging.orders.total"},
		{"unqualified names resolve to the one relation that has them", `SELECT product, total FROM staging.items JOIN staging.orders USING (id)`,
			map[string]string{"product": "staging.items.product", "total": "staging.orders.total"},
			"staging.items.id,staging.items.product,staging.orders.id,staging.orders.total"},
		{"an ambiguous name is left out", `SELECT id FROM staging.items, staging.orders`, map[string]string{"id": ""}, ""},
		{"subqueries, unions and stars", `SELECT x.* FROM (SELECT branch, total FROM staging.orders UNION ALL SELECT branch, total FROM staging.old) AS x`,
			map[string]string{"branch": "staging.old.branch,staging.orders.branch", "total": "staging.old.total,staging.orders.total"},
			"staging.old.branch,staging.old.total,staging.orders.branch,staging.orders.total"},
		{"CTEs and renamed columns", `WITH d(k, v) AS (SELECT branch, total * 2 FROM staging.orders) SELECT k, upper(k) AS up, v::numeric FROM d WHERE k <> ''`,
			map[string]string{"k": "staging.orders.branch", "up": "staging.orders.branch", "v": "staging.orders.total"},
			"staging.orders.branch,staging.orders.total"},
		{"a correlated subquery reads the outer row", `SELECT o.id, (SELECT max(i.price) FROM staging.items AS i WHERE i.id = o.id) AS top FROM staging.orders AS o`,
			map[string]string{"id": "staging.orders.id", "top": "staging.items.id,staging.items.price,staging.orders.id"},
			"staging.items.id,staging.items.price,staging.orders.id"},
		{"a function in FROM returns what its arguments read", `SELECT o.id, it.n AS item_no, split_part(it.item, ',', 2) AS product, p FROM staging.orders AS o,
			unnest(string_to_array(o.method, ';')) WITH ORDINALITY AS it(item, n), unnest(ARRAY[o.total]) AS p`,
			map[string]string{"id": "staging.orders.id", "item_no": "staging.orders.method", "product": "staging.orders.method", "p": "staging.orders.total"},
			"staging.orders.id,staging.orders.method,staging.orders.total"},
		{"ORDER BY an output name", `SELECT branch, sum(total) AS revenue FROM staging.orders GROUP BY branch ORDER BY revenue DESC`,
			map[string]string{"branch": "staging.orders.branch", "revenue": "staging.orders.total"},
			"staging.orders.branch,staging.orders.total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := Analyze(tc.sql, stagingColumns)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, o := range q.Outputs {
				got[o.Name] = strings.Join(o.From, ",")
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s comes from %q, want %q", name, got[name], want)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("outputs %v, want %v", got, tc.want)
			}
			if r := strings.Join(q.Reads, ","); r != tc.reads {
				t.Errorf("reads %q, want %q", r, tc.reads)
			}
		})
	}
}

func TestGraphAndPanels(t *testing.T) {
	models := fstest.MapFS{
		"models/core/orders.sql":  {Data: []byte("SELECT id, branch, total, method FROM staging.orders UNION ALL SELECT id, branch, total, method FROM staging.old")},
		"models/marts/sales.sql":  {Data: []byte("SELECT branch, sum(total) AS revenue, sum(total) FILTER (WHERE method = 'CARD') AS card FROM core.orders GROUP BY branch")},
		"models/marts/counts.sql": {Data: []byte("SELECT branch, count(*) AS orders FROM core.orders GROUP BY branch")},
	}
	g, err := dag.Load(models, "models", []string{"staging.orders", "staging.old"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Build(g, stagingColumns)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(l.Sources("marts.sales.card"), ","), "staging.old.method,staging.old.total,staging.orders.method,staging.orders.total"; got != want {
		t.Errorf("sources of marts.sales.card: %s, want %s", got, want)
	}
	if got, want := strings.Join(l.Downstream("core.orders.method"), ","), "core.orders.method,marts.sales.card"; got != want {
		t.Errorf("downstream of core.orders.method: %s, want %s", got, want)
	}
	dash := fstest.MapFS{"d/sales.json": {Data: []byte(`{"title": "Sales", "panels": [
		{"title": "Card", "targets": [{"rawSql": "SELECT $__timeGroupAlias(branch, 1d), card FROM marts.sales WHERE $__timeFilter(branch) AND branch IN ($branch)"}]},
		{"title": "A row", "panels": [{"title": "Revenue", "targets": [{"rawSql": "SELECT sum(revenue) FROM marts.sales"}]}]},
		{"title": "Counts", "targets": [{"rawSql": "SELECT orders FROM marts.counts"}]},
		{"title": "Text"}]}`)}}
	panels, err := l.ReadPanels(dash, "d")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range panels {
		if p.Err != "" {
			t.Errorf("%s: %s", p, p.Err)
		}
		names = append(names, p.String())
	}
	if want := []string{"Sales › Card", "Sales › Revenue", "Sales › Counts"}; !slices.Equal(names, want) {
		t.Fatalf("panels %v, want %v", names, want)
	}
	if got := strings.Join(panels[0].Reads, ","); got != "marts.sales.branch,marts.sales.card" {
		t.Errorf("Card reads %s", got)
	}
	var touched []string
	for _, p := range l.Touched(panels, []string{"core.orders.method"}) {
		touched = append(touched, p.String())
	}
	if want := []string{"Sales › Card"}; !slices.Equal(touched, want) {
		t.Errorf("a change to core.orders.method touches %v, want %v", touched, want)
	}
	if err := l.Check("marts.sales.nope"); err == nil || !strings.Contains(err.Error(), "it has branch, revenue, card") {
		t.Errorf("Check of a missing column: %v", err)
	}
}
