package dag

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

var sources = []string{"staging.orders"}

func load(t *testing.T, files map[string]string) (*Graph, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, sql := range files {
		fsys["models/"+name] = &fstest.MapFile{Data: []byte(sql)}
	}
	return Load(fsys, "models", sources, []string{"percolate"})
}

func names(ms []*Model) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.Name)
	}
	return strings.Join(s, " ")
}

func TestOrderAndRefs(t *testing.T) {
	g, err := load(t, map[string]string{
		"marts/daily.sql":  "-- materialized: table\nSELECT d, count(*) FROM core.orders GROUP BY d",
		"core/orders.sql":  "WITH x AS (SELECT * FROM staging.orders) SELECT * FROM x",
		"marts/health.sql": "SELECT * FROM percolate.runs JOIN marts.daily ON true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(g.Models), "core.orders marts.daily marts.health"; got != want {
		t.Errorf("order: got %q, want %q", got, want)
	}
	daily := g.Model("marts.daily")
	if daily.Config.Materialized != Table || strings.Join(daily.Parents, ",") != "core.orders" {
		t.Errorf("marts.daily: got %s with parents %v, want table with parents [core.orders]", daily.Config.Materialized, daily.Parents)
	}
	if got := strings.Join(g.Model("core.orders").Sources, ","); got != "staging.orders" {
		t.Errorf("core.orders sources: got %q, want staging.orders (the CTE x is not a relation)", got)
	}
	if got := strings.Join(g.Model("marts.health").Sources, ","); got != "percolate.runs" {
		t.Errorf("marts.health sources: got %q, want percolate.runs", got)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error names the line", map[string]string{"core/a.sql": "-- a model\nSELECT 1\nFROM staging.orders\nWHER x = 1"},
			`models/core/a.sql:4: syntax error at or near "x"`},
		{"missing relation", map[string]string{"core/a.sql": "SELECT 1\nFROM core.nope"},
			"models/core/a.sql:2: relation core.nope is neither a model nor a source table"},
		{"missing relation suggests", map[string]string{"core/a.sql": "SELECT 1 FROM marts.orders"},
			"did you mean staging.orders?"},
		{"cycle", map[string]string{"core/a.sql": "SELECT * FROM core.b", "core/b.sql": "SELECT * FROM core.c", "core/c.sql": "SELECT * FROM core.a"},
			"dependency cycle: core.a reads core.b reads core.c reads core.a"},
		{"reads itself", map[string]string{"core/a.sql": "SELECT * FROM core.a"}, "core.a reads itself"},
		{"unqualified", map[string]string{"core/a.sql": "SELECT * FROM orders"}, `relation "orders" has no schema: write it schema-qualified as staging.orders,`},
		{"unqualified model", map[string]string{"core/a.sql": "SELECT 1 AS x", "marts/b.sql": "SELECT x\nFROM a"}, `models/marts/b.sql:2: relation "a" has no schema: write it schema-qualified as core.a,`},
		{"unqualified nowhere", map[string]string{"core/a.sql": "SELECT * FROM nope"}, `relation "nope" has no schema: write it schema-qualified (no model or source table is named nope`},
		{"not a select", map[string]string{"core/a.sql": "DELETE FROM staging.orders"}, "exactly one SELECT"},
		{"two statements", map[string]string{"core/a.sql": "SELECT 1; SELECT 2"}, "exactly one SELECT"},
		{"unknown header key", map[string]string{"core/a.sql": "-- materialised: table\nSELECT 1"}, `models/core/a.sql:1: unknown header key "materialised"`},
		{"bad materialization", map[string]string{"core/a.sql": "-- materialized: tabel\nSELECT 1"}, `materialized must be view, table, incremental or snapshot, not "tabel"`},
		{"bad path", map[string]string{"a.sql": "SELECT 1"}, "models/<schema>/<name>.sql"},
		{"distributed view", map[string]string{"core/a.sql": "-- distributed_by: branch\nSELECT 'x' AS branch"}, `models/core/a.sql:1: a view is not distributed`},
		{"distributed by a missing column", map[string]string{"core/a.sql": "-- materialized: table\n-- distributed_by: branch\nSELECT 'x' AS shop, 1 AS n"},
			`models/core/a.sql:2: distributed_by: branch is not a column of the model (it has: shop, n)`},
		{"unique without the distribution column", map[string]string{"core/a.sql": "-- materialized: table\n-- distributed_by: branch\n-- check: unique(day)\nSELECT 'x' AS branch, 1 AS day"},
			`models/core/a.sql:3: check unique(day): a model distributed by branch keeps unique keys within a shard only: add branch to the key`},
		{"a column line of no column", map[string]string{"core/a.sql": "-- column revenu: pounds\nSELECT 1 AS revenue"}, `models/core/a.sql:1: column revenu is not a column of the model (it has: revenue)`},
		{"bad distribution", map[string]string{"core/a.sql": "-- materialized: table\n-- distribution: everywhere\nSELECT 1 AS n"}, `distribution must be reference`},
		{"key of a view", map[string]string{"core/a.sql": "-- key: n\nSELECT 1 AS n"}, `models/core/a.sql:1: a view has no key`},
		{"key of no column", map[string]string{"core/a.sql": "-- materialized: table\n-- key: id\nSELECT 1 AS n"}, `models/core/a.sql:2: key: id is not a column of the model (it has: n)`},
		{"two keys", map[string]string{"core/a.sql": "-- materialized: table\n-- key: n\n-- key: n\nSELECT 1 AS n"}, `models/core/a.sql:3: key: a model has one key`},
		{"key column twice", map[string]string{"core/a.sql": "-- materialized: table\n-- key: n, n\nSELECT 1 AS n"}, `models/core/a.sql:2: key: "n" is not a column name, or is named twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.files)
			if err == nil {
				t.Fatalf("got no error, want %q", tt.want)
			}
			var de *Error
			if !errors.As(err, &de) {
				t.Errorf("got %T (%v), want *dag.Error", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNoModels(t *testing.T) {
	_, err := Load(fstest.MapFS{"models/README": {}}, "models", nil, nil)
	if !errors.Is(err, ErrNoModels) {
		t.Errorf("got %v, want ErrNoModels", err)
	}
}

func TestVersions(t *testing.T) {
	base := map[string]string{
		"core/a.sql": "SELECT id, total FROM staging.orders WHERE total > 1",
		"core/b.sql": "SELECT * FROM core.a",
	}
	version := func(files map[string]string) (string, string) {
		t.Helper()
		g, err := load(t, files)
		if err != nil {
			t.Fatal(err)
		}
		return g.Model("core.a").Version, g.Model("core.b").Version
	}
	with := func(a string) map[string]string {
		return map[string]string{"core/a.sql": a, "core/b.sql": base["core/b.sql"]}
	}
	a0, b0 := version(base)
	tests := []struct {
		name    string
		sql     string
		changed bool
	}{
		{"reformatted", "-- the orders\nselect id,\n       total\n  from staging.orders -- raw\n where total > 1\n", false},
		{"description only", "-- description: orders\nSELECT id, total FROM staging.orders WHERE total > 1", false},
		{"constant changed", "SELECT id, total FROM staging.orders WHERE total > 2", true},
		{"materialization changed", "-- materialized: table\nSELECT id, total FROM staging.orders WHERE total > 1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := version(with(tt.sql))
			if (a != a0) != tt.changed {
				t.Errorf("a's version changed = %v, want %v", a != a0, tt.changed)
			}
			if (b != b0) != tt.changed {
				t.Errorf("b's version (a child) changed = %v, want %v", b != b0, tt.changed)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	g, err := load(t, map[string]string{
		"core/a.sql":  "-- tags: core\nSELECT * FROM staging.orders",
		"core/b.sql":  "-- tags: core\nSELECT * FROM core.a",
		"marts/c.sql": "SELECT * FROM core.b",
		"marts/d.sql": "SELECT * FROM core.a",
		"marts/e.sql": "SELECT 1",
	})
	if err != nil {
		t.Fatal(err)
	}
	modified := func(m *Model) bool { return m.Name == "core.b" }
	tests := []struct {
		sel, exclude []string
		want         string
	}{
		{nil, nil, "core.a core.b marts.c marts.d marts.e"},
		{[]string{"b"}, nil, "core.b"},
		{[]string{"core.b+"}, nil, "core.b marts.c"},
		{[]string{"+marts.c"}, nil, "core.a core.b marts.c"},
		{[]string{"a+"}, []string{"marts.d"}, "core.a core.b marts.c"},
		{[]string{"tag:core"}, nil, "core.a core.b"},
		{[]string{"path:models/marts"}, nil, "marts.c marts.d marts.e"},
		{[]string{"state:modified+"}, nil, "core.b marts.c"},
		{[]string{"marts.e, core.a"}, nil, "core.a marts.e"},
		{[]string{"marts.e", "core.a"}, nil, "core.a marts.e"},
		{nil, []string{"tag:core"}, "marts.c marts.d marts.e"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sel, "|")+"-"+strings.Join(tt.exclude, "|"), func(t *testing.T) {
			got, err := g.Select(tt.sel, tt.exclude, modified)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("got %q, want %q", names(got), tt.want)
			}
		})
	}
	for _, bad := range []struct{ sel, want string }{
		{"nope", "no model nope (see percolate models list)"},
		{"state:new", "the only state is state:modified"},
		{"tag", "no model tag"},
		{"marts.cc", "no model marts.cc (did you mean marts.c?)"},
		{"cor.a+", "no model cor.a (did you mean core.a?)"},
	} {
		_, err := g.Select([]string{bad.sel}, nil, modified)
		if !errors.Is(err, ErrSelector) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("select %q: got %v, want a selector error saying %q", bad.sel, err, bad.want)
		}
	}
}

func TestRewrite(t *testing.T) {
	sql := "-- reads orders\nSELECT *\nFROM core.orders o JOIN \"core\".\"items\" i USING (id) -- core.orders again\nWHERE o.x IN (SELECT x FROM staging.t)"
	got, err := Rewrite(sql, func(rel string) (string, bool) {
		if strings.HasPrefix(rel, "core.") {
			return rel + "__next", true
		}
		return rel, false
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "-- reads orders\nSELECT *\nFROM \"core\".\"orders__next\" o JOIN \"core\".\"items__next\" i USING (id) -- core.orders again\nWHERE o.x IN (SELECT x FROM staging.t)"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestCheckDeclarations(t *testing.T) {
	_, err := load(t, map[string]string{"core/a.sql": "-- check: unique(id)\n-- check: relationships(id -> core.nope.id)\nSELECT 1 AS id"})
	if err == nil || !strings.Contains(err.Error(), "models/core/a.sql:2: check relationships(id -> core.nope.id): relation core.nope") {
		t.Errorf("got %v, want an error naming line 2", err)
	}
	_, err = load(t, map[string]string{"core/a.sql": "-- check: uniq(id)\nSELECT 1 AS id"})
	if err == nil || !strings.Contains(err.Error(), `models/core/a.sql:1: check kind "uniq"`) {
		t.Errorf("got %v, want an error naming the unknown kind", err)
	}
	g, err := load(t, map[string]string{"core/a.sql": "-- check: accepted_values(m: CASH, CARD) [warn]\n-- check: row_count(min: 1)\nSELECT 'CASH' AS m"})
	if err != nil {
		t.Fatal(err)
	}
	cs := g.Model("core.a").Config.Checks
	if len(cs) != 2 || cs[0].Severity != SeverityWarn || cs[1].Severity != SeverityError {
		t.Errorf("got %+v, want a warn and an error check", cs)
	}
}

func TestColumnVersions(t *testing.T) {
	versions := func(sql string) map[string]string {
		t.Helper()
		g, err := load(t, map[string]string{"core/orders.sql": "SELECT * FROM staging.orders", "marts/x.sql": sql})
		if err != nil {
			t.Fatal(err)
		}
		return g.Model("marts.x").ColumnVersions()
	}
	base := versions("SELECT branch, sum(total) AS revenue, count(*) AS orders FROM core.orders WHERE total > 0 GROUP BY branch")
	for _, tc := range []struct {
		name, sql string
		changed   []string
	}{
		{"layout and comments", "select branch,\n  SUM(total) as revenue, -- money\n  count(*) as orders\nfrom core.orders where total > 0 group by branch", nil},
		{"one expression", "SELECT branch, sum(total) * 1 AS revenue, count(*) AS orders FROM core.orders WHERE total > 0 GROUP BY branch", []string{"revenue"}},
		{"the filter", "SELECT branch, sum(total) AS revenue, count(*) AS orders FROM core.orders WHERE total >= 0 GROUP BY branch", []string{"branch", "orders", "revenue"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := versions(tc.sql)
			var changed []string
			for c, v := range base {
				if got[c] != v {
					changed = append(changed, c)
				}
			}
			slices.Sort(changed)
			if !slices.Equal(changed, tc.changed) {
				t.Errorf("changed %v, want %v", changed, tc.changed)
			}
		})
	}
}
