package project

import (
	"os"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/lineage"
	"github.com/percolate/percolate/internal/staging"
)

// dashboardsDir is where a project keeps its Grafana dashboards, whose
// panels' SQL lineage follows (a slash-separated fs.FS path).
const dashboardsDir = "grafana/dashboards"

// Panel is a dashboard panel as lineage follows it (see lineage.Panel).
type Panel = lineage.Panel

// Lineage is the column lineage of a pipeline's models, with the
// project's dashboard panels that read them.
type Lineage struct {
	*lineage.Graph
	Panels []*Panel
}

// Lineage follows the columns of g's models and of the project's
// dashboard panels. have is the tables the migrations make; nil reads
// them.
func (p *Folder) Lineage(g *dag.Graph, have *staging.Schema) (*Lineage, error) {
	if have == nil {
		var err error
		if have, err = p.StagingFromMigrations(); err != nil {
			return nil, err
		}
	}
	if err := p.AddSeeds(have); err != nil {
		return nil, err
	}
	l, err := lineage.Build(g, func(rel string) []string {
		t := have.Tables[rel]
		if t == nil {
			return nil
		}
		names := make([]string, len(t.Columns))
		for i, c := range t.Columns {
			names[i] = c.Name
		}
		return names
	})
	if err != nil {
		return nil, err
	}
	panels, err := l.ReadPanels(os.DirFS(p.Dir), dashboardsDir)
	return &Lineage{Graph: l, Panels: panels}, err
}

// ColumnLineage is what lineage tells of one column.
type ColumnLineage struct {
	Column     string   `json:"column"`
	From       []string `json:"from"`
	Sources    []string `json:"sources"`
	Downstream []string `json:"downstream"`
	Panels     []*Panel `json:"panels"`
}

// Column is the lineage of col: the columns it is computed from, the
// source columns at the end of that chain, the columns computed from it
// and the panels that read it or one of those.
func (l *Lineage) Column(col string) ColumnLineage {
	cl := ColumnLineage{Column: col, From: l.Direct(col), Sources: l.Sources(col), Panels: l.Touched(l.Panels, []string{col})}
	for _, d := range l.Downstream(col) {
		if d != col {
			cl.Downstream = append(cl.Downstream, d)
		}
	}
	return cl
}

// PanelNames names the panels that read one of cols, or a column
// computed from one, as "Dashboard › Panel"; never nil.
func (l *Lineage) PanelNames(cols []string) []string {
	names := []string{}
	for _, p := range l.Touched(l.Panels, cols) {
		names = append(names, p.String())
	}
	return names
}

// edited names the dashboard panels that read a column of an edited
// model among steps, or a column computed from one.
func (l *Lineage) edited(steps []*build.Step) []string {
	var cols []string
	for _, s := range steps {
		switch {
		case !s.Build || !s.Edited:
		case s.EditedColumns != nil:
			for _, c := range s.EditedColumns {
				cols = append(cols, s.Name+"."+c)
			}
		default:
			cols = append(cols, l.ModelColumns(s.Name)...)
		}
	}
	return l.PanelNames(cols)
}
