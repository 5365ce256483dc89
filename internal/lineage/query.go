// Package lineage follows columns through the models' SQL, from the parse
// trees PostgreSQL's own parser makes: which columns of the relations it
// reads each output column of a model is computed from, and which columns
// a query (a dashboard panel's) reads. Resolution follows what PostgreSQL
// would: aliases, subqueries, CTEs, joins and set operations; a column it
// cannot place (an unknown or ambiguous name) is left out, never guessed.
package lineage

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/percolate/percolate/internal/dag"
)

// Col names a column of a relation: "schema.rel.column".
type Col = string

// set is a set of columns.
type set map[Col]bool

func (s set) add(o set) {
	for c := range o {
		s[c] = true
	}
}

func (s set) sorted() []Col {
	out := make([]Col, 0, len(s))
	for c := range s {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Output is one output column of a query and the columns it comes from.
type Output struct {
	Name string
	From []Col
}

// Query is what a query makes and reads.
type Query struct {
	Outputs []Output
	// Reads are every column of a relation the query reads, in any
	// clause: what a change to it touches.
	Reads []Col
	// Missing are columns it names of a relation whose columns are known
	// and do not include them: the query would fail.
	Missing []Col
}

// Columns says which columns a relation (schema.rel) has, or nil when
// unknown.
type Columns func(rel string) []string

// Analyze follows the columns of one SELECT.
func Analyze(sql string, columns Columns) (*Query, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return nil, err
	}
	a := &analyzer{columns: columns, missing: set{}}
	q := &Query{}
	reads := set{}
	for _, st := range tree.Stmts {
		sel := st.Stmt.GetSelectStmt()
		if sel == nil {
			continue
		}
		outs, r := a.query(sel, nil)
		reads.add(r)
		for _, o := range outs {
			q.Outputs = append(q.Outputs, Output{Name: o.name, From: o.from.sorted()})
		}
	}
	q.Reads = reads.sorted()
	q.Missing = a.missing.sorted()
	return q, nil
}

type analyzer struct {
	columns Columns
	missing set
}

// out is an output column while analysing.
type out struct {
	name string
	from set
}

// source is a relation visible in a FROM clause: a table or model (rel
// set) or a derived table (cols set).
type source struct {
	alias string
	rel   string
	cols  []out
}

func (s *source) names(a *analyzer) []string {
	if s.rel != "" {
		return a.columns(s.rel)
	}
	names := make([]string, len(s.cols))
	for i, c := range s.cols {
		names[i] = c.name
	}
	return names
}

// column is what s's column name comes from, or nil when s has no such
// column (as far as is known).
func (s *source) column(a *analyzer, name string) set {
	if s.rel != "" {
		if cols := a.columns(s.rel); cols != nil && !slices.Contains(cols, name) {
			return nil
		}
		return set{s.rel + "." + name: true}
	}
	for _, c := range s.cols {
		if c.name == name {
			return c.from
		}
	}
	return nil
}

// scope is the FROM items a part of a query sees, and the CTEs it may name.
type scope struct {
	sources []*source
	ctes    map[string][]out
	outer   *scope
}

func (sc *scope) cte(name string) ([]out, bool) {
	for s := sc; s != nil; s = s.outer {
		if c, ok := s.ctes[name]; ok {
			return c, true
		}
	}
	return nil, false
}

// query analyses a SELECT (or a set operation of them) under outer.
func (a *analyzer) query(sel *pg_query.SelectStmt, outer *scope) ([]out, set) {
	sc := &scope{outer: outer, ctes: map[string][]out{}}
	reads := set{}
	if w := sel.WithClause; w != nil {
		for _, n := range w.Ctes {
			cte := n.GetCommonTableExpr()
			if cte == nil {
				continue
			}
			q := cte.Ctequery.GetSelectStmt()
			if q == nil {
				continue
			}
			outs, r := a.query(q, sc)
			reads.add(r)
			for i, alias := range cte.Aliascolnames {
				if i < len(outs) {
					outs[i].name = alias.GetString_().GetSval()
				}
			}
			sc.ctes[cte.Ctename] = outs
		}
	}
	if sel.Op != pg_query.SetOperation_SETOP_NONE {
		left, lr := a.query(sel.Larg, sc)
		right, rr := a.query(sel.Rarg, sc)
		reads.add(lr)
		reads.add(rr)
		for i := range left {
			from := set{}
			from.add(left[i].from)
			if i < len(right) {
				from.add(right[i].from)
			}
			left[i].from = from
		}
		return left, reads
	}
	for _, n := range sel.FromClause {
		a.from(n, sc, reads)
	}
	var outs []out
	for _, n := range sel.TargetList {
		rt := n.GetResTarget()
		if rt == nil {
			continue
		}
		if cr := rt.Val.GetColumnRef(); cr != nil && isStar(cr) {
			for _, s := range starSources(sc, cr) {
				for _, name := range s.names(a) {
					outs = append(outs, out{name: name, from: s.column(a, name)})
				}
			}
			continue
		}
		from := a.expr(rt.Val, sc)
		reads.add(from)
		name := rt.Name
		if name == "" {
			name = nameOf(rt.Val)
		}
		outs = append(outs, out{name: name, from: from})
	}
	for _, o := range outs {
		reads.add(o.from)
	}
	for _, n := range append([]*pg_query.Node{sel.WhereClause, sel.HavingClause}, append(sel.GroupClause, append(sel.SortClause, sel.DistinctClause...)...)...) {
		reads.add(a.exprOrOutput(n, sc, outs))
	}
	return outs, reads
}

// exprOrOutput is expr for the grouping and sorting clauses, which may
// also name an output column.
func (a *analyzer) exprOrOutput(n *pg_query.Node, sc *scope, outs []out) set {
	if n == nil {
		return nil
	}
	if sb := n.GetSortBy(); sb != nil {
		n = sb.Node
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
		name := cr.Fields[0].GetString_().GetSval()
		if from := a.resolve(sc, "", name); from != nil {
			return from
		}
		for _, o := range outs {
			if o.name == name {
				return o.from
			}
		}
	}
	return a.expr(n, sc)
}

// from adds a FROM item to sc.
func (a *analyzer) from(n *pg_query.Node, sc *scope, reads set) {
	switch {
	case n.GetRangeVar() != nil:
		rv := n.GetRangeVar()
		alias := rv.Relname
		if rv.Alias != nil {
			alias = rv.Alias.Aliasname
		}
		if rv.Schemaname == "" {
			if outs, ok := sc.cte(rv.Relname); ok {
				sc.sources = append(sc.sources, &source{alias: alias, cols: renamed(outs, rv.Alias)})
				return
			}
		}
		sc.sources = append(sc.sources, &source{alias: alias, rel: rv.Schemaname + "." + rv.Relname})
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		sel := rs.Subquery.GetSelectStmt()
		if sel == nil {
			return
		}
		var outer *scope
		if rs.Lateral {
			outer = sc
		} else {
			outer = &scope{ctes: sc.ctes, outer: sc.outer}
		}
		outs, r := a.query(sel, outer)
		reads.add(r)
		alias := ""
		if rs.Alias != nil {
			alias = rs.Alias.Aliasname
		}
		sc.sources = append(sc.sources, &source{alias: alias, cols: renamed(outs, rs.Alias)})
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		a.from(j.Larg, sc, reads)
		a.from(j.Rarg, sc, reads)
		if j.Quals != nil {
			reads.add(a.expr(j.Quals, sc))
		}
		for _, u := range j.UsingClause {
			reads.add(a.resolveAll(sc, u.GetString_().GetSval()))
		}
	case n.GetRangeFunction() != nil:
		// A function in FROM (unnest(string_to_array(o.items, ...)) AS
		// it(item, item_no)): each column it returns comes from what its
		// arguments read. Its columns are known by its alias: the names
		// given, else the alias itself (a function of one column).
		rf := n.GetRangeFunction()
		from := a.expr(n, sc)
		reads.add(from)
		src := &source{}
		if rf.Alias != nil {
			src.alias = rf.Alias.Aliasname
			names := []string{src.alias}
			if len(rf.Alias.Colnames) > 0 {
				names = names[:0]
				for _, c := range rf.Alias.Colnames {
					names = append(names, c.GetString_().GetSval())
				}
			}
			for _, name := range names {
				src.cols = append(src.cols, out{name: name, from: from})
			}
		}
		sc.sources = append(sc.sources, src)
	}
}

// renamed applies a FROM alias's column names to a derived table's columns.
func renamed(outs []out, alias *pg_query.Alias) []out {
	if alias == nil {
		return outs
	}
	outs = slices.Clone(outs)
	for i, c := range alias.Colnames {
		if i < len(outs) {
			outs[i].name = c.GetString_().GetSval()
		}
	}
	return outs
}

// expr is the columns an expression reads.
func (a *analyzer) expr(n *pg_query.Node, sc *scope) set {
	got := set{}
	if n == nil {
		return got
	}
	dag.Walk(n.ProtoReflect(), func(m protoreflect.Message) bool {
		switch v := m.Interface().(type) {
		case *pg_query.ColumnRef:
			if !isStar(v) {
				got.add(a.columnRef(v, sc))
			}
			return false
		case *pg_query.SelectStmt:
			_, r := a.query(v, sc)
			got.add(r)
			return false
		}
		return true
	})
	return got
}

func (a *analyzer) columnRef(cr *pg_query.ColumnRef, sc *scope) set {
	var parts []string
	for _, f := range cr.Fields {
		parts = append(parts, f.GetString_().GetSval())
	}
	switch len(parts) {
	case 1:
		return a.resolve(sc, "", parts[0])
	case 2:
		return a.resolve(sc, parts[0], parts[1])
	case 3: // schema.rel.column
		return a.resolve(sc, parts[1], parts[2])
	}
	return nil
}

// resolve finds the column qualifier.name in sc or the scopes around it:
// the innermost that has it, and only where exactly one source does.
func (a *analyzer) resolve(sc *scope, qualifier, name string) set {
	for s := sc; s != nil; s = s.outer {
		var found []set
		for _, src := range s.sources {
			if qualifier != "" && src.alias != qualifier && !strings.HasSuffix(src.rel, "."+qualifier) {
				continue
			}
			if from := src.column(a, name); from != nil {
				found = append(found, from)
			}
		}
		if len(found) == 1 {
			return found[0]
		}
		if len(found) > 1 {
			return nil // ambiguous: PostgreSQL would refuse it
		}
	}
	// Not found: a relation whose columns are known lacks it.
	if len(sc.sources) == 1 || qualifier != "" {
		for _, src := range sc.sources {
			if src.rel != "" && a.columns(src.rel) != nil && (qualifier == "" || src.alias == qualifier) {
				a.missing[src.rel+"."+name] = true
			}
		}
	}
	return nil
}

// resolveAll is a USING column: it comes from both sides.
func (a *analyzer) resolveAll(sc *scope, name string) set {
	got := set{}
	for _, src := range sc.sources {
		got.add(src.column(a, name))
	}
	return got
}

func isStar(cr *pg_query.ColumnRef) bool {
	return len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil
}

// starSources are the sources `*` or `alias.*` expands to.
func starSources(sc *scope, cr *pg_query.ColumnRef) []*source {
	if len(cr.Fields) == 1 {
		return sc.sources
	}
	q := cr.Fields[len(cr.Fields)-2].GetString_().GetSval()
	for _, s := range sc.sources {
		if s.alias == q {
			return []*source{s}
		}
	}
	return nil
}

// nameOf is the name PostgreSQL gives an output column without an alias.
func nameOf(n *pg_query.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().Fields
		return f[len(f)-1].GetString_().GetSval()
	case n.GetTypeCast() != nil:
		if name := nameOf(n.GetTypeCast().Arg); name != "?column?" {
			return name
		}
		names := n.GetTypeCast().TypeName.Names
		return names[len(names)-1].GetString_().GetSval()
	case n.GetFuncCall() != nil:
		names := n.GetFuncCall().Funcname
		return names[len(names)-1].GetString_().GetSval()
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetCaseExpr() != nil:
		return "case"
	}
	return "?column?"
}
