package lineage

import (
	"fmt"
	"slices"
	"strings"

	"github.com/percolate/percolate/internal/dag"
)

// Graph is the column lineage of a project's models.
type Graph struct {
	models  map[string]*Query
	sources Columns
	// users maps a column to the model columns computed from it directly.
	users map[Col][]Col
}

// Build follows every model's columns; sources gives the columns of the
// relations that are not models (the staging tables, the ledger).
func Build(g *dag.Graph, sources Columns) (*Graph, error) {
	l := &Graph{models: map[string]*Query{}, sources: sources, users: map[Col][]Col{}}
	for _, m := range g.Models { // parents first: their columns are known
		q, err := Analyze(m.Body(), l.Columns)
		if err != nil {
			return nil, &dag.Error{Path: m.Path, Msg: err.Error()}
		}
		l.models[m.Name] = q
		for _, o := range q.Outputs {
			for _, f := range o.From {
				l.users[f] = append(l.users[f], m.Name+"."+o.Name)
			}
		}
	}
	return l, nil
}

// Columns lists the columns of rel: a model's as its SQL returns them,
// another relation's as sources says.
func (l *Graph) Columns(rel string) []string {
	if q, ok := l.models[rel]; ok {
		names := make([]string, len(q.Outputs))
		for i, o := range q.Outputs {
			names[i] = o.Name
		}
		return names
	}
	return l.sources(rel)
}

// Split cuts a column name into its relation and column.
func Split(col Col) (rel, column string) {
	i := strings.LastIndex(col, ".")
	if i < 0 {
		return "", col
	}
	return col[:i], col[i+1:]
}

// Check says whether col names a column of a model or a source, and if
// not, why.
func (l *Graph) Check(col Col) error {
	rel, name := Split(col)
	if _, ok := l.models[rel]; !ok && l.sources(rel) == nil {
		return fmt.Errorf("%s: no model or source table %s (want schema.relation.column)", col, rel)
	}
	if !slices.Contains(l.Columns(rel), name) {
		return fmt.Errorf("%s: %s has no column %s (it has %s)", col, rel, name, strings.Join(l.Columns(rel), ", "))
	}
	return nil
}

// Direct is the columns col is computed from in its model's SQL.
func (l *Graph) Direct(col Col) []Col {
	rel, name := Split(col)
	if q, ok := l.models[rel]; ok {
		for _, o := range q.Outputs {
			if o.Name == name {
				return o.From
			}
		}
	}
	return nil
}

// Upstream is every column col is computed from, through the models.
func (l *Graph) Upstream(col Col) []Col {
	seen := set{}
	var walk func(c Col)
	walk = func(c Col) {
		for _, f := range l.Direct(c) {
			if !seen[f] {
				seen[f] = true
				walk(f)
			}
		}
	}
	walk(col)
	return seen.sorted()
}

// Sources is the columns col comes from that are not models' (the staging
// columns).
func (l *Graph) Sources(col Col) []Col {
	var out []Col
	for _, c := range l.Upstream(col) {
		if rel, _ := Split(c); l.models[rel] == nil {
			out = append(out, c)
		}
	}
	return out
}

// Downstream is col and every model column computed from it, directly or
// not.
func (l *Graph) Downstream(col Col) []Col {
	seen := set{col: true}
	var walk func(c Col)
	walk = func(c Col) {
		for _, u := range l.users[c] {
			if !seen[u] {
				seen[u] = true
				walk(u)
			}
		}
	}
	walk(col)
	return seen.sorted()
}

// Touched is the panels that read a column in cols or one computed from
// them (or, for a column removed, that still name it).
func (l *Graph) Touched(panels []*Panel, cols []Col) []*Panel {
	affected := set{}
	for _, c := range cols {
		for _, d := range l.Downstream(c) {
			affected[d] = true
		}
	}
	var out []*Panel
	for _, p := range panels {
		hit := func(c Col) bool { return affected[c] }
		if slices.ContainsFunc(p.Reads, hit) || slices.ContainsFunc(p.Missing, hit) {
			out = append(out, p)
		}
	}
	return out
}

// ModelColumns is every column of the model rel.
func (l *Graph) ModelColumns(rel string) []Col {
	var out []Col
	for _, name := range l.Columns(rel) {
		out = append(out, rel+"."+name)
	}
	return out
}
