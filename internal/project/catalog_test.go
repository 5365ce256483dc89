package project

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/percolate/percolate/internal/docsite"
	"github.com/percolate/percolate/internal/grafana"
	"github.com/percolate/percolate/internal/lineage"
)

// cafe opens the repository's own project.
func cafe(t *testing.T) *Folder {
	t.Helper()
	p, err := Open("../..", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// declared is the dashboards p declares, as the command line reads them.
func declared(t *testing.T, p *Folder) []*docsite.Dashboard {
	t.Helper()
	prov, err := grafana.Load(os.DirFS(p.Dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []*docsite.Dashboard
	for _, d := range prov.Dashboards {
		dd := &docsite.Dashboard{Title: d.Title, UID: d.UID, Path: d.Path}
		for _, pn := range d.Panels {
			dd.Panels = append(dd.Panels, &docsite.Panel{Title: pn.Title, Type: pn.Type, SQL: pn.SQL})
		}
		out = append(out, dd)
	}
	return out
}

// TestPanelsByColumn holds the catalog's panels per column, found from
// the panels back, to what lineage's Touched says column by column.
func TestPanelsByColumn(t *testing.T) {
	p := cafe(t)
	pl, err := p.Config.Pipeline("")
	if err != nil {
		t.Fatal(err)
	}
	g, err := p.Graph(pl)
	if err != nil {
		t.Fatal(err)
	}
	have, err := p.StagingFromMigrations()
	if err != nil {
		t.Fatal(err)
	}
	l, err := lineage.Build(g, tableColumns(have))
	if err != nil {
		t.Fatal(err)
	}
	panels := followPanels(declared(t, p), l)
	if len(panels) == 0 {
		t.Fatal("the project declares no panels: nothing to compare")
	}
	got := panelsByColumn(l, panels)
	some := 0
	for _, m := range g.Models {
		for _, col := range l.ModelColumns(m.Name) {
			var want []string
			for _, pn := range l.Touched(panels, []string{col}) {
				want = append(want, pn.String())
			}
			if !slices.Equal(got[col], want) {
				t.Errorf("%s: panels %q, want %q", col, got[col], want)
			}
			some += len(want)
		}
	}
	if some == 0 {
		t.Error("no column is read by a panel: nothing was compared")
	}
}

// TestCatalogFromFiles holds the catalog made from the files alone to
// every model, and to sources' contracts as declared, standing alone.
func TestCatalogFromFiles(t *testing.T) {
	p := cafe(t)
	c, err := p.Catalog("", declared(t, p))
	if err != nil {
		t.Fatal(err)
	}
	if c.Ledger || len(c.Runs) > 0 {
		t.Errorf("a catalog from the files has ledger data: %v, %d runs", c.Ledger, len(c.Runs))
	}
	byName := map[string]*docsite.Model{}
	for _, m := range c.Models {
		byName[m.Name] = m
	}
	for _, tc := range []struct {
		model, column string
		checks, tests bool
	}{
		{"core.orders", "order_id", true, true},
		{"marts.hourly_sales", "revenue", true, true},
	} {
		m := byName[tc.model]
		if m == nil {
			t.Errorf("no model %s", tc.model)
			continue
		}
		i := slices.IndexFunc(m.Columns, func(c *docsite.Column) bool { return c.Name == tc.column })
		if i < 0 || len(m.Columns[i].From) == 0 {
			t.Errorf("%s: column %s missing or computed from nothing", tc.model, tc.column)
		}
		if (len(m.Checks) > 0) != tc.checks || (len(m.Tests) > 0) != tc.tests || m.Version == "" || len(m.Upstream) == 0 {
			t.Errorf("%s: %d checks, %d tests, version %q, upstream %v", tc.model, len(m.Checks), len(m.Tests), m.Version, m.Upstream)
		}
	}
	for _, s := range c.Sources {
		if !strings.Contains(s.Contract, "columns:") || strings.Contains(s.Contract, ": *") {
			t.Errorf("source %s: contract not as declared, standing alone:\n%s", s.Name, s.Contract)
		}
		if !slices.ContainsFunc(s.Columns, func(c *docsite.SourceColumn) bool { return strings.Contains(c.Note, "dropped") }) {
			t.Errorf("source %s: no column said to be personal data dropped", s.Name)
		}
	}
}

func TestHours(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{26 * time.Hour, "26h"}, {90 * time.Minute, "1h30m"}, {10 * time.Minute, "10m"}, {45 * time.Second, "45s"}, {time.Hour + 30*time.Second, "1h0m30s"},
	} {
		if got := hours(c.d); got != c.want {
			t.Errorf("hours(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}
