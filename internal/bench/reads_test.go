package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/percolate/percolate/internal/generate"
	"github.com/percolate/percolate/internal/pgtest"
	"github.com/percolate/percolate/internal/project"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// root is the project folder: the cafe's pipeline, models and query set.
const root = "../.."

var readsFile = filepath.Join(root, "testdata", "bench", "reads.sql")

// mismatchQuery names the query of the cafe's set that lists broken
// orders: on a core that holds together it returns none.
const mismatchQuery = "orders whose items do not sum to the total"

// TestReadsSameRowsOnBothSides runs the read benchmark on a few days of
// three branches (one file delivered again an order short, so the core
// leaves repeats out) and the legacy layout's sample: every query of the cafe's set must
// return the same rows on the core as on its keyed copies, the copies must
// be keyed tables, each side's plans must read its own relations, and the
// printed table must name every query. No time is asserted.
func TestReadsSameRowsOnBothSides(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	dir := t.TempDir()
	day := time.Date(2022, 5, 30, 0, 0, 0, 0, time.UTC)
	if _, err := generate.Write(generate.Options{Dir: dir, Layout: generate.LayoutA, Branches: generate.Branches(3),
		From: day, To: day.AddDate(0, 0, 3), Orders: 20, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err := redeliver(files[:1], dir, true); err != nil {
		t.Fatal(err)
	}
	set, err := ReadQuerySet(readsFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := project.Open(root, project.Options{DatabaseURL: url, HashKey: "bench test key"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res, err := Reads(ctx, Options{URL: url, Project: p, Jobs: 2, Out: &out}, ReadsOptions{Queries: set, Runs: 1,
		Sources: map[string]string{"transactions": filepath.Join(dir, "*.csv"), "legacy_transactions": filepath.Join(root, "testdata", "cafe", "layout_b", "*.csv")},
		From:    time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC)})
	t.Cleanup(func() { dropDatabase(t, url, "bench_reads") })
	if err != nil {
		t.Fatalf("reads: %v\n%s", err, out.String())
	}
	t.Log(out.String())
	if got, want := len(res.Queries), len(set.Queries); got != want {
		t.Fatalf("got %d queries' results, want %d", got, want)
	}
	for i, q := range set.Queries {
		t.Run(q.Name, func(t *testing.T) {
			r := res.Queries[i]
			if r.Query.Name != q.Name {
				t.Fatalf("result %d is of %q, want %q", i, r.Query.Name, q.Name)
			}
			if !slices.Equal(r.Core.Rows, r.Keyed.Rows) {
				t.Errorf("rows differ:\n got (core)  %d: %s\nwant (keyed) %d: %s", len(r.Core.Rows), first(r.Core.Rows), len(r.Keyed.Rows), first(r.Keyed.Rows))
			}
			// An empty result on both sides proves nothing; the broken orders'
			// list is the one that must be empty.
			if got, want := len(r.Core.Rows) > 0, q.Name != mismatchQuery; got != want {
				t.Errorf("got %d rows, want rows: %v", len(r.Core.Rows), want)
			}
			if got := r.Keyed.Schemas; !slices.Equal(got, []string{KeyedSchema}) {
				t.Errorf("the keyed side's plan read schemas %v, want [%s]", got, KeyedSchema)
			}
			if got := r.Core.Schemas; len(got) == 0 || slices.Contains(got, KeyedSchema) {
				t.Errorf("the core's plan read schemas %v, want some and not %s", got, KeyedSchema)
			}
			if !strings.Contains(out.String(), "| "+q.Name+" ") {
				t.Errorf("the printed table has no row for %q:\n%s", q.Name, out.String())
			}
		})
	}
	checkKeyed(t, url, set)
}

// checkKeyed holds the copies to what the set declares: tables with a
// primary key on the declared columns.
func checkKeyed(t *testing.T, url string, set *QuerySet) {
	t.Helper()
	ctx := context.Background()
	conn := connectTo(t, url, "bench_reads")
	for _, k := range set.Keyed {
		var kind string
		var key []string
		err := conn.QueryRow(ctx, `SELECT c.relkind::text, array(SELECT a.attname::text FROM pg_index AS i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
			    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE i.indrelid = c.oid AND i.indisprimary ORDER BY k.n)
			FROM pg_class AS c WHERE c.oid = to_regclass($1)`, KeyedSchema+"."+k.Relation).Scan(&kind, &key)
		if err != nil {
			t.Fatalf("%s.%s: %v", KeyedSchema, k.Relation, err)
		}
		if kind != "r" || !slices.Equal(key, k.Columns) {
			t.Errorf("%s.%s: got relkind %s, primary key %v; want a table (r) keyed on %v", KeyedSchema, k.Relation, kind, key, k.Columns)
		}
	}
	// A key the rows do not hold is an error naming the set's line.
	bad := *set
	bad.Keyed = []Copy{{Relation: "order_items", Columns: []string{"branch"}, Line: 99}}
	bad.Indexes = nil
	err := buildKeyed(ctx, conn, &bad)
	if want := readsFile + ":99: key of core.order_items (branch)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a key that is not unique: got error %v, want one with %q", err, want)
	}
}

func first(rows []string) string {
	if len(rows) == 0 {
		return "(none)"
	}
	return rows[0]
}

// connectTo connects to database name on the server of url.
func connectTo(t *testing.T, url, name string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = name
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func dropDatabase(t *testing.T, url, name string) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		t.Error(err)
	}
}

// The cafe's query set is read whole: the test above depends on it.
func TestReadQuerySetCafe(t *testing.T) {
	set, err := ReadQuerySet(readsFile)
	if err != nil {
		t.Fatal(err)
	}
	var targets int
	for _, q := range set.Queries {
		if q.Target > 0 {
			targets++
		}
		if strings.HasSuffix(q.SQL, ";") || strings.HasPrefix(q.SQL, "--") {
			t.Errorf("query %q: SQL %q keeps its header or its semicolon", q.Name, q.SQL)
		}
	}
	if got, want := [5]int{len(set.Queries), len(set.Keyed), len(set.Indexes), len(set.Params), targets}, [5]int{9, 4, 4, 4, 2}; got != want {
		t.Errorf("got queries, keyed, indexes, params, targets %v, want %v", got, want)
	}
	if set.Schema != "core" || set.Within != 1.5 {
		t.Errorf("got schema %q within %v, want core within 1.5", set.Schema, set.Within)
	}
}

func TestReadQuerySetErrors(t *testing.T) {
	head := "-- schema: core\n-- keyed: t (id)\n"
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unknown header", "-- frobnicate: x\n", "f.sql:1:1: frobnicate: not a header"},
		{"keyed without columns", "-- schema: core\n-- keyed: t id\n", `f.sql:2:11: keyed: want "relation (column, …)", got "t id"`},
		{"SQL before a query", head + "SELECT 1;\n", `f.sql:3:1: SQL before the first "-- query: name"`},
		{"query without SQL", head + "-- query: a\n-- query: b\nSELECT 1\n", `f.sql:3:1: query "a": no SQL`},
		{"query named twice", head + "-- query: a\nSELECT 1;\n-- query: a\nSELECT 2;\n", `f.sql:5:1: query "a": named already, on line 3`},
		{"bad target", head + "-- query: a\n-- target: soon\nSELECT 1\n", `f.sql:4:12: target: want a duration such as 5ms, got "soon"`},
		{"file header in a query", head + "-- query: a\n-- keyed: u (id)\nSELECT 1\n", "f.sql:4:1: keyed: not a query's header"},
		{"param undeclared", head + "-- query: a\nSELECT *\nFROM t WHERE id = :'id'\n", `f.sql:5:19: query "a": param id is not declared`},
		{"param twice", head + "-- param: x = SELECT 1\n-- param: x = SELECT 2\n-- query: a\nSELECT 1\n", "f.sql:4:11: param: x is declared already, on line 3"},
		{"param before its param", head + "-- param: x = SELECT :'y'\n-- param: y = SELECT 2\n-- query: a\nSELECT 1\n", "f.sql:3: param x: uses y, not declared before it"},
		{"index not keyed", head + "-- index: u (id)\n-- query: a\nSELECT 1\n", `f.sql:3: index: u is not keyed`},
		{"no schema", "-- keyed: t (id)\n-- query: a\nSELECT 1\n", `f.sql: no "-- schema: name"`},
		{"within below 1", head + "-- within: 0.5\n-- query: a\nSELECT 1\n", `f.sql:3:12: within: want a ratio of 1 or more`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseQuerySet("f.sql", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestBind(t *testing.T) {
	got := bind("SELECT :'a', ':'::text, :'b'", map[string]string{"a": "it's", "b": "2"})
	if want := "SELECT 'it''s', ':'::text, '2'"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}
