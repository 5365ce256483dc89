package grafana

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// good is a dashboard declaration a test spoils one line of.
const good = `uid: u
title: T
variables:
  - {name: region, label: Region, multi: true, all: true, sql: SELECT DISTINCT region FROM marts.sales}
data_link: {table: marts.sales, column: day}
panels:
  - title: Sales
    type: bargauge
    width: 12
    height: 8
    each_row: amount
    columns: [region, amount]
    sql: SELECT region, amount FROM marts.sales WHERE region IN ($region)
`

// TestBadDeclarationRefused: a declaration Grafana could not show, or a
// misspelt key, is an error naming the file and the line, before anything
// is rendered.
func TestBadDeclarationRefused(t *testing.T) {
	for _, c := range []struct {
		name, file, from, to string
		line                 int
		want                 string
	}{
		{"misspelt key", "dashboards/d.yaml", "    height: 8", "    hieght: 8", 10, `unknown key "hieght" in a panel`},
		{"unknown type", "dashboards/d.yaml", "type: bargauge", "type: heatmapp", 8, `panel "Sales": type "heatmapp"`},
		{"no sql", "dashboards/d.yaml", "    sql: SELECT region, amount FROM marts.sales WHERE region IN ($region)\n", "", 7, `panel "Sales": a panel needs sql`},
		{"too wide", "dashboards/d.yaml", "width: 12", "width: 25", 9, "width 25"},
		{"each_row not a column", "dashboards/d.yaml", "each_row: amount", "each_row: total", 11, `each_row "total" is not one of its columns`},
		{"quoted data link", "dashboards/d.yaml", "column: day", `column: '"day"'`, 5, "data_link"},
		{"a variable without sql", "dashboards/d.yaml", ", sql: SELECT DISTINCT region FROM marts.sales}", "}", 4, "variable region: its values need sql"},
		{"no uid", "dashboards/d.yaml", "uid: u\n", "", 1, "a dashboard needs a uid"},
		{"not a list", "dashboards/d.yaml", "columns: [region, amount]", "columns: region", 12, "cannot unmarshal"},
		{"misspelt variable", "dashboards/d.yaml", "IN ($region)", "IN ($regoin)", 13, `its sql reads $regoin, which is no variable`},
		{"empty", "dashboards/d.yaml", good, "", 0, "an empty declaration"},
		{"a variable in a rule", "alerts.yaml", "sql: SELECT 1", "sql: SELECT ${region}", 5, "its sql reads $region: a rule has no variables"},
		{"rule misspelt", "alerts.yaml", "no_data: Alerting", "nodata: Alerting", 4, `unknown key "nodata" in a rule`},
		{"rule no_data", "alerts.yaml", "no_data: Alerting", "no_data: Always", 4, `no_data "Always"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{
				"dashboards/d.yaml": {Data: []byte(good)},
				"alerts.yaml":       {Data: []byte("rules:\n  - uid: r\n    title: R\n    no_data: Alerting\n    sql: SELECT 1\n")},
			}
			if _, err := Load(fsys); err != nil {
				t.Fatalf("the good declarations: %v", err)
			}
			src := string(fsys[c.file].Data)
			if !strings.Contains(src, c.from) {
				t.Fatalf("%q is not in the good declaration", c.from)
			}
			fsys[c.file] = &fstest.MapFile{Data: []byte(strings.Replace(src, c.from, c.to, 1))}
			_, err := Load(fsys)
			var e *Error
			if !errors.As(err, &e) || e.File != c.file || e.Line != c.line || !strings.Contains(e.Msg, c.want) {
				t.Errorf("got %v, want %s:%d: …%s…", err, c.file, c.line, c.want)
			}
		})
	}
}

// TestDeclarationsRender: a project of its own (no cafe) renders its
// dashboard generically: its variable, its data link on its own table and
// column, a bar per row.
func TestDeclarationsRender(t *testing.T) {
	p, err := Load(fstest.MapFS{"dashboards/regions.yaml": {Data: []byte(good)}})
	if err != nil {
		t.Fatal(err)
	}
	files, err := p.Files()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Path != "grafana/dashboards/regions.json" {
		t.Fatalf("rendered %v, want grafana/dashboards/regions.json alone (no alerts.yaml, no alerting file)", files)
	}
	got := string(files[0].Data)
	for _, want := range []string{
		`"rawSql": "SELECT region, amount FROM marts.sales WHERE region IN ($region)"`,
		`"url": "/d/u?from=${data_from}\u0026to=${data_to}\u0026${region:queryparam}"`,
		`"query": "SELECT max(day)::text FROM marts.sales"`,
		`"fields": "/^amount$/"`,
		`"format": "table"`,
		`"timeShift": "$data_shift"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the rendered dashboard lacks %s:\n%s", want, got)
		}
	}
}
