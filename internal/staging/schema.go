// Package staging keeps the two declarations of a staging table in step:
// the source contract in pipelines.yaml, which says what the loader writes,
// and the goose migrations, which make the table. It reads the tables the
// migrations make with PostgreSQL's own parser (offline, for validate) or
// from the database (online, before every run), names the first
// difference as pipelines.yaml:LINE against the table's column, and writes
// the migration that makes a source's tables from its contract.
package staging

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/percolate/percolate/internal/ledger"
)

// Schema is the tables of a database, as its migrations make them or as it
// has them.
type Schema struct {
	// From says where the schema was read, for messages.
	From   string
	Tables map[string]*Table
}

// Table is a table of a Schema.
type Table struct {
	Name    string // schema.name
	Columns []*Column
	Where   string // the migration and line that made it; empty in a database
}

// Column is a column of a Table.
type Column struct {
	Name string
	Type string // pg_type.typname: int8, numeric, timestamptz, …
	// Scale is a numeric's declared scale, or -1 when it has none (any);
	// Precision its declared precision, or -1.
	Scale, Precision int
	// Decl is the type as declared, modifiers included: numeric(10,2).
	Decl    string
	NotNull bool
	Default bool
	Where   string // the migration and line that made it (or last changed it)
}

// at says where a table or column was made, for a message: " (FILE:LINE)",
// or nothing for a database's.
func at(where string) string {
	if where == "" {
		return ""
	}
	return " (" + where + ")"
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column {
	for _, c := range t.Columns {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Precision maps "schema.table.column" to the declared precision of each
// numeric column that has one.
func (s *Schema) Precision() map[string]int {
	out := map[string]int{}
	for _, t := range s.Tables {
		for _, c := range t.Columns {
			if c.Type == "numeric" && c.Precision > 0 {
				out[t.Name+"."+c.Name] = c.Precision
			}
		}
	}
	return out
}

// FromDatabase reads the named tables (schema.name) as the database has
// them.
func FromDatabase(ctx context.Context, q ledger.Querier, tables []string) (*Schema, error) {
	rows, err := q.Query(ctx, `SELECT table_schema || '.' || table_name, column_name, udt_name, coalesce(numeric_scale, -1),
		    CASE WHEN udt_name = 'numeric' THEN coalesce(numeric_precision, -1) ELSE -1 END,
		    CASE WHEN udt_name = 'numeric' AND numeric_precision IS NOT NULL
		         THEN format('numeric(%s,%s)', numeric_precision, numeric_scale) ELSE udt_name END,
		    is_nullable = 'NO', column_default IS NOT NULL
		FROM information_schema.columns WHERE table_schema || '.' || table_name = ANY($1)
		ORDER BY table_schema, table_name, ordinal_position`, tables)
	if err != nil {
		return nil, fmt.Errorf("read the staging tables' columns: %w", err)
	}
	defer rows.Close()
	s := &Schema{From: "the database", Tables: map[string]*Table{}}
	for rows.Next() {
		var name string
		c := &Column{}
		if err := rows.Scan(&name, &c.Name, &c.Type, &c.Scale, &c.Precision, &c.Decl, &c.NotNull, &c.Default); err != nil {
			return nil, fmt.Errorf("read the staging tables' columns: %w", err)
		}
		t := s.Tables[name]
		if t == nil {
			t = &Table{Name: name}
			s.Tables[name] = t
		}
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the staging tables' columns: %w", err)
	}
	return s, nil
}

// FromMigrations reads the tables that the Up sections of the goose
// migrations in fsys make, applied in order, without a database: CREATE
// TABLE (LIKE included), ALTER TABLE adding, dropping, retyping and
// renaming columns, renames and drops of tables.
func FromMigrations(fsys fs.FS) (*Schema, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list the migrations: %w", err)
	}
	slices.Sort(files) // goose's numbered names sort in order
	s := &Schema{From: "the migrations", Tables: map[string]*Table{}}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read the migrations: %w", err)
		}
		if err := s.apply(path.Join("migrations", f), string(b)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// apply interprets the Up section of one migration file.
func (s *Schema) apply(file, text string) error {
	up, offset := upSection(text)
	tree, err := pg_query.Parse(up)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	at := func(loc int32) string {
		i := min(int(loc), len(up))
		// A statement's location is where the one before it ended: its
		// line is that of its first word, past blanks and comments.
		for i < len(up) {
			rest := up[i:]
			switch {
			case rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n':
				i++
				continue
			case strings.HasPrefix(rest, "--"):
				if j := strings.IndexByte(rest, '\n'); j >= 0 {
					i += j
					continue
				}
			}
			break
		}
		return fmt.Sprintf("%s:%d", file, offset+strings.Count(up[:i], "\n")+1)
	}
	for _, raw := range tree.Stmts {
		if err := s.statement(raw.Stmt, raw.StmtLocation, at); err != nil {
			return fmt.Errorf("%s: %w", at(raw.StmtLocation), err)
		}
	}
	return nil
}

// upSection returns the part of a goose migration between -- +goose Up and
// -- +goose Down, and the number of lines before it.
func upSection(text string) (string, int) {
	lines := strings.SplitAfter(text, "\n")
	start, end := -1, len(lines)
	for i, l := range lines {
		switch strings.Join(strings.Fields(l), " ") {
		case "-- +goose Up":
			start = i + 1
		case "-- +goose Down":
			if start >= 0 {
				end = i
			}
		}
		if end < len(lines) {
			break
		}
	}
	if start < 0 {
		return "", 0
	}
	return strings.Join(lines[start:end], ""), start
}

func (s *Schema) statement(n *pg_query.Node, loc int32, at func(int32) string) error {
	switch {
	case n.GetCreateStmt() != nil:
		cs := n.GetCreateStmt()
		t := &Table{Name: relName(cs.Relation), Where: at(loc)}
		for _, e := range cs.TableElts {
			switch {
			case e.GetColumnDef() != nil:
				t.Columns = append(t.Columns, columnOf(e.GetColumnDef(), at))
			case e.GetTableLikeClause() != nil:
				like := e.GetTableLikeClause()
				src := s.Tables[relName(like.Relation)]
				if src == nil {
					return fmt.Errorf("CREATE TABLE %s (LIKE %s): no migration before makes %s", t.Name, relName(like.Relation), relName(like.Relation))
				}
				const likeDefaults = 1 << 3 // CREATE_TABLE_LIKE_DEFAULTS
				for _, c := range src.Columns {
					cp := *c
					cp.Default = c.Default && like.Options&likeDefaults != 0
					t.Columns = append(t.Columns, &cp)
				}
			}
		}
		s.Tables[t.Name] = t
	case n.GetAlterTableStmt() != nil:
		as := n.GetAlterTableStmt()
		t := s.Tables[relName(as.Relation)]
		if t == nil {
			return nil // not a table a migration made: not ours to follow
		}
		for _, cn := range as.Cmds {
			s.alter(t, cn.GetAlterTableCmd(), at(loc), at)
		}
	case n.GetRenameStmt() != nil:
		rs := n.GetRenameStmt()
		t := s.Tables[relName(rs.Relation)]
		if t == nil {
			return nil
		}
		switch rs.RenameType {
		case pg_query.ObjectType_OBJECT_TABLE:
			delete(s.Tables, t.Name)
			schema, _, _ := strings.Cut(t.Name, ".")
			t.Name = schema + "." + rs.Newname
			s.Tables[t.Name] = t
		case pg_query.ObjectType_OBJECT_COLUMN:
			if c := t.Column(rs.Subname); c != nil {
				c.Name, c.Where = rs.Newname, at(loc)
			}
		}
	case n.GetDropStmt() != nil:
		ds := n.GetDropStmt()
		if ds.RemoveType != pg_query.ObjectType_OBJECT_TABLE {
			return nil
		}
		for _, o := range ds.Objects {
			var parts []string
			for _, p := range o.GetList().GetItems() {
				parts = append(parts, p.GetString_().GetSval())
			}
			if len(parts) == 1 {
				parts = append([]string{"public"}, parts...)
			}
			delete(s.Tables, strings.Join(parts, "."))
		}
	}
	return nil
}

func (s *Schema) alter(t *Table, cmd *pg_query.AlterTableCmd, where string, at func(int32) string) {
	if cmd == nil {
		return
	}
	c := t.Column(cmd.Name)
	switch cmd.Subtype {
	case pg_query.AlterTableType_AT_AddColumn:
		if def := cmd.GetDef().GetColumnDef(); def != nil {
			t.Columns = append(t.Columns, columnOf(def, at))
		}
	case pg_query.AlterTableType_AT_DropColumn:
		t.Columns = slices.DeleteFunc(t.Columns, func(x *Column) bool { return x.Name == cmd.Name })
	case pg_query.AlterTableType_AT_AlterColumnType:
		if def := cmd.GetDef().GetColumnDef(); def != nil && c != nil {
			c.Type, c.Precision, c.Scale, c.Decl = typeOf(def.TypeName)
			c.Where = at(def.Location)
		}
	case pg_query.AlterTableType_AT_SetNotNull:
		if c != nil {
			c.NotNull, c.Where = true, where
		}
	case pg_query.AlterTableType_AT_DropNotNull:
		if c != nil {
			c.NotNull = false
		}
	case pg_query.AlterTableType_AT_ColumnDefault:
		if c != nil {
			c.Default = cmd.Def != nil
		}
	}
}

func columnOf(def *pg_query.ColumnDef, at func(int32) string) *Column {
	c := &Column{Name: def.Colname, NotNull: def.IsNotNull, Where: at(def.Location)}
	c.Type, c.Precision, c.Scale, c.Decl = typeOf(def.TypeName)
	for _, cn := range def.Constraints {
		switch cn.GetConstraint().GetContype() {
		case pg_query.ConstrType_CONSTR_NOTNULL, pg_query.ConstrType_CONSTR_PRIMARY:
			c.NotNull = true
		case pg_query.ConstrType_CONSTR_DEFAULT:
			c.Default = true
		}
	}
	return c
}

// typeOf is a type's pg_type name, for a numeric its declared precision
// and scale (-1 for none), and the type as declared.
func typeOf(tn *pg_query.TypeName) (name string, precision, scale int, decl string) {
	if tn == nil || len(tn.Names) == 0 {
		return "", -1, -1, ""
	}
	name = tn.Names[len(tn.Names)-1].GetString_().GetSval()
	if alias, ok := typeAliases[name]; ok {
		name = alias
	}
	var mods []string
	for _, m := range tn.Typmods {
		mods = append(mods, fmt.Sprint(m.GetAConst().GetIval().GetIval()))
	}
	decl = name
	if len(mods) > 0 {
		decl += "(" + strings.Join(mods, ",") + ")"
	}
	precision, scale = -1, -1
	if name == "numeric" && len(mods) > 0 {
		precision, scale = int(tn.Typmods[0].GetAConst().GetIval().GetIval()), 0
		if len(mods) == 2 {
			scale = int(tn.Typmods[1].GetAConst().GetIval().GetIval())
		}
	}
	return name, precision, scale, decl
}

// typeAliases maps the names the parser leaves as written to pg_type's.
var typeAliases = map[string]string{"decimal": "numeric", "bigserial": "int8", "serial": "int4"}

func relName(rv *pg_query.RangeVar) string {
	schema := rv.GetSchemaname()
	if schema == "" {
		schema = "public"
	}
	return schema + "." + rv.GetRelname()
}
