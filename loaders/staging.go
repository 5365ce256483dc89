package loaders

import (
	"github.com/percolate/percolate/internal/config"
)

// Table is a staging table as a source's contract fills it.
type Table struct {
	Name    string // schema.name
	Columns []Column
	// Line is the line of pipelines.yaml that makes it.
	Line int
}

// Column is a staging column the loader writes.
type Column struct {
	Name string
	// Type is PostgreSQL's name for its type (pg_type.typname: int8,
	// numeric, timestamptz, …), as the database and the migrations' parser
	// give it; Scale is a numeric's.
	Type  string
	Scale int
	// SQL declares it in a migration, e.g. numeric(18,2).
	SQL string
	// Nullable is true when the loader may write NULL into it.
	Nullable bool
	// Line is the line of pipelines.yaml that makes it.
	Line int
}

// Staging returns the staging tables a source's loads write, with their
// columns in the order the loader writes them: the source's table, then
// its items table and their sums when it has them.
func Staging(src *config.Source) ([]Table, error) {
	c, err := newContract(src, nil)
	if err != nil {
		return nil, err
	}
	// Every staging column but the lineage comes from one source column.
	lines := map[string]int{src.Table: src.Line}
	for i, col := range src.Columns {
		span := c.spans[i]
		for _, sc := range c.parent.cols[span[0]:span[1]] {
			lines[src.Table+"."+sc.name] = col.Line
		}
		for _, t := range []*table{c.child, c.sums} {
			if col.Items == nil || t == nil {
				continue
			}
			lines[t.name] = col.Line
			for _, sc := range t.cols {
				lines[t.name+"."+sc.name] = col.Line
			}
		}
	}
	if sm := src.Sums; sm != nil {
		lines[sm.Table] = src.Line
	}
	var out []Table
	for _, t := range c.tables() {
		st := Table{Name: t.name, Line: lines[t.name]}
		for _, col := range t.cols {
			line, ok := lines[t.name+"."+col.name]
			if !ok {
				line = src.Line
			}
			st.Columns = append(st.Columns, Column{Name: col.name, Type: col.typ.name, Scale: col.scale,
				SQL: col.typ.sql(col.scale), Nullable: col.nullable, Line: line})
		}
		out = append(out, st)
	}
	return out, nil
}
