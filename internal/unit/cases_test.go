package unit

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

func graph(t *testing.T, files fstest.MapFS) *dag.Graph {
	t.Helper()
	files["models/core/orders.sql"] = &fstest.MapFile{Data: []byte("SELECT id, total FROM staging.orders")}
	files["models/marts/daily.sql"] = &fstest.MapFile{Data: []byte("-- materialized: incremental\n-- time_column: day\n-- check: unique(day)\nSELECT day, sum(total) AS revenue FROM core.orders GROUP BY day")}
	g, err := dag.Load(files, "models", []string{"staging.orders"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestLoad(t *testing.T) {
	const good = `cases:
  - name: one day
    interval: {from: 2022-03-01, to: 2022-03-01}
    given:
      core.orders:
        - {id: 1, total: 2.50}
        - {id: 2, total: null}
    expect:
      - {day: 2022-03-01, revenue: 2.50}
`
	files := fstest.MapFS{"models/marts/daily.test.yaml": {Data: []byte(good)}}
	cases, err := Load(files, graph(t, files))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 1 {
		t.Fatalf("got %d cases, want 1", len(cases))
	}
	c := cases[0]
	if c.Name != "one day" || c.Line != 2 || c.From != "2022-03-01" || c.To != "2022-03-01" || c.Model.Name != "marts.daily" {
		t.Errorf("case %+v", c)
	}
	given := c.Given[0]
	if given.Rel != "core.orders" || len(given.Rows) != 2 || string(given.Rows[0].Values["total"]) != "2.50" || string(given.Rows[1].Values["total"]) != "null" {
		t.Errorf("given %+v", given)
	}
	if got := strings.Join(c.Expect.Columns(), ","); got != "day,revenue" || string(c.Expect.Rows[0].Values["day"]) != `"2022-03-01"` {
		t.Errorf("expect columns %s, row %s", got, c.Expect.Rows[0].Values)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, path, text, want string
	}{
		{"beside no model", "models/marts/weekly.test.yaml", "cases: []", "models/marts/weekly.test.yaml: no model weekly.sql beside it"},
		{"empty", "models/marts/daily.test.yaml", "", "models/marts/daily.test.yaml: empty"},
		{"no cases", "models/marts/daily.test.yaml", "cases: []", "no cases"},
		{"misspelt key", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    expected: []\n", `daily.test.yaml:3: unknown key "expected" (want name, description, interval, given, expect)`},
		{"no name", "models/marts/daily.test.yaml", "cases:\n  - expect: []\n", "daily.test.yaml:2: a case without a name"},
		{"named twice", "models/marts/daily.test.yaml", "cases:\n  - {name: x, expect: []}\n  - {name: x, expect: []}\n", `daily.test.yaml:3: case "x": named twice`},
		{"no expect", "models/marts/daily.test.yaml", "cases:\n  - name: x\n", `case "x": no expect`},
		{"interval of a view", "models/core/orders.test.yaml", "cases:\n  - name: x\n    interval: {from: 2022-03-01}\n    expect: []\n", "core.orders is not incremental"},
		{"not a day", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    interval: {from: 1 March}\n    expect: []\n", `interval: "1 March" is not a day`},
		{"backwards", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    interval: {from: 2022-03-02, to: 2022-03-01}\n    expect: []\n", "to 2022-03-01 is before from 2022-03-02"},
		{"relation not read", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    given:\n      staging.orders: []\n    expect: []\n", "daily.test.yaml:4: case \"x\": given staging.orders: marts.daily does not read it (it reads core.orders)"},
		{"rows not a list", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    expect: {day: 1}\n", "expect: want a list of rows"},
		{"a value that is a list", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    expect:\n      - {day: [1, 2]}\n", "daily.test.yaml:4: case \"x\": expect: column day: want a single value"},
		{"a column twice", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    expect:\n      - {day: 1, day: 2}\n", "daily.test.yaml:4"},
		{"rows of other columns", "models/marts/daily.test.yaml", "cases:\n  - name: x\n    expect:\n      - {day: 1}\n      - {revenue: 2}\n", "every row names the same columns (day, revenue)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := fstest.MapFS{tc.path: {Data: []byte(tc.text)}}
			_, err := Load(files, graph(t, files))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestPair(t *testing.T) {
	missing := []string{`{"day":"2022-03-01","revenue":2.50}`, `{"day":"2022-03-02","revenue":1}`}
	unexpected := []string{`{"day":"2022-03-01","revenue":3.00}`, `{"day":"2022-03-03","revenue":2.5}`}
	raw := func(ss []string) (out []json.RawMessage) {
		for _, s := range ss {
			out = append(out, json.RawMessage(s))
		}
		return out
	}
	m, u, changed := pair(raw(missing), raw(unexpected), []string{"day"}, []string{"day", "revenue"})
	if len(m) != 1 || string(m[0]) != missing[1] || len(u) != 1 || string(u[0]) != unexpected[1] {
		t.Errorf("left missing %s, unexpected %s", m, u)
	}
	if len(changed) != 1 || string(changed[0].Key) != `{"day": "2022-03-01"}` || len(changed[0].Columns) != 1 ||
		string(changed[0].Columns[0].Want) != "2.50" || string(changed[0].Columns[0].Got) != "3.00" {
		t.Errorf("changed %+v", changed)
	}
	if pg.JSONValue(json.RawMessage("2.50")) != pg.JSONValue(json.RawMessage("2.5")) || pg.JSONValue(json.RawMessage(`"2.5"`)) == pg.JSONValue(json.RawMessage("2.5")) {
		t.Error("JSONValue: 2.50 and 2.5 are one number, and not the text \"2.5\"")
	}
}
