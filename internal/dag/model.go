// Package dag finds the SQL models of a project, reads their header
// config, works out from the SQL itself which relations each one reads,
// and orders them into a dependency graph with a version per model.
package dag

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// Materializations.
const (
	View        = "view"
	Table       = "table"
	Incremental = "incremental" // a table built a day at a time
)

// Model is one SQL model: a SELECT that builds relation Name.
type Model struct {
	Name   string // schema.name
	Schema string
	Rel    string // the name without its schema
	Path   string // as found under the models folder's parent, e.g. models/marts/x.sql
	SQL    string // the file's text, header included: it runs as written
	Config Config

	// Refs are the relations the SQL reads, schema-qualified, sorted.
	Refs []string
	// Parents are the Refs that are models; Sources the rest.
	Parents []string
	Sources []string
	// Functions are the project functions it calls (models/functions);
	// Vars the vars it reads with percolate.var ("*": all of them).
	Functions []string
	Vars      []string
	// Version fingerprints the normalised SQL, the config and the parents'
	// versions: it changes when what the model builds may change.
	Version string
	// OwnVersion fingerprints the model alone, without its parents.
	OwnVersion string

	normalized string
	refLines   map[string]int
	// unqualified is the first relation the SQL reads without a schema
	// (its name and line): the graph, which knows what exists, says which
	// to write.
	unqualified *unqualifiedRef

	columnsOnce    sync.Once
	columnVersions map[string]string
}

// Config is a model's header: `-- key: value` comment lines at its top.
type Config struct {
	Materialized string
	Description  string
	Tags         []string
	Checks       []*Check
	// TimeColumn and Grain say how an incremental model is sliced: rows
	// whose TimeColumn falls in a day belong to that day's interval.
	TimeColumn string
	Grain      string
	// Indexes are column lists to index in a built table.
	Indexes [][]string
	// Key is the columns that tell a built table's rows apart: `-- key:`.
	// A table is given a unique index on them (built after its rows on a
	// whole build, kept as days are replaced), and an incremental model's
	// days are then merged by it: only rows added, removed or changed are
	// written.
	Key []string
	// DistributedBy is the column a distributed engine (Citus) shards the
	// built table by, co-located with the other tables sharded by a column
	// of its type; Reference copies a small table to every node instead.
	// Neither changes anything on plain PostgreSQL.
	DistributedBy string
	Reference     bool
	// Columns documents output columns: `-- column NAME: text` lines, in
	// order. They become the columns' comments when the model publishes.
	Columns []ColumnDoc
	// Snapshot, for a snapshot, says how its rows' versions are told apart
	// (snapshot.go).
	Snapshot *SnapshotConfig
}

// ColumnDoc is a `-- column NAME: text` line.
type ColumnDoc struct {
	Name, Text string
	Line       int
}

// Distribution says how the model's table is distributed, for people:
// "by branch", "reference", or "" for a local table.
func (c *Config) Distribution() string {
	switch {
	case c.DistributedBy != "":
		return "by " + c.DistributedBy
	case c.Reference:
		return "reference"
	}
	return ""
}

// Error is a problem in a model file at a line.
type Error struct {
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// ErrNoModels is returned when a models folder holds no .sql file.
var ErrNoModels = errors.New("no models")

// parseModel reads one model file, found at file under the models folder root.
func parseModel(root, file, sql string) (*Model, error) {
	inner := strings.TrimPrefix(file, root+"/")
	schema, _, nested := strings.Cut(inner, "/")
	rel := strings.TrimSuffix(path.Base(file), ".sql")
	if !nested || !identRe.MatchString(schema) || !identRe.MatchString(rel) {
		return nil, &Error{Path: file, Msg: "a model lives at models/<schema>/<name>.sql, both lower-case identifiers"}
	}
	m := &Model{Name: schema + "." + rel, Schema: schema, Rel: rel, Path: file, SQL: sql}
	if len(m.Name) > 45 {
		return nil, &Error{Path: file, Msg: fmt.Sprintf("%s is longer than 45 bytes, which distributed engines need for shard suffixes", m.Name)}
	}
	if err := m.parseHeader(); err != nil {
		return nil, err
	}
	if m.Config.Materialized == Incremental {
		if m.Config.TimeColumn == "" {
			return nil, &Error{Path: file, Msg: "an incremental model needs -- time_column: (the date column its days are cut by)"}
		}
		if m.Config.Grain == "" {
			m.Config.Grain = "day"
		}
	}
	if err := m.parseSQL(); err != nil {
		return nil, err
	}
	if err := m.checkDistribution(); err != nil {
		return nil, err
	}
	if err := m.checkSnapshot(); err != nil {
		return nil, err
	}
	if err := m.checkKey(); err != nil {
		return nil, err
	}
	if cols, known := outputColumns(m.SQL); known {
		for _, d := range m.Config.Columns {
			if !slices.Contains(cols, d.Name) {
				return nil, &Error{Path: m.Path, Line: d.Line, Msg: fmt.Sprintf("column %s is not a column of the model (it has: %s)", d.Name, strings.Join(cols, ", "))}
			}
		}
	}
	return m, nil
}

// checkDistribution holds a distributed model to what a distributed engine
// needs: a table, sharded by a column it outputs, that every unique check
// includes (uniqueness is only kept within a shard).
func (m *Model) checkDistribution() error {
	c := &m.Config
	if c.DistributedBy == "" && !c.Reference {
		return nil
	}
	line := 0
	for i, l := range strings.Split(m.SQL, "\n") {
		if strings.Contains(l, "distributed_by:") || strings.Contains(l, "distribution:") {
			line = i + 1
			break
		}
	}
	bad := func(format string, args ...any) error {
		return &Error{Path: m.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
	}
	if c.Materialized == View {
		return bad("a view is not distributed (the tables it reads are): distribution applies to tables and incremental models")
	}
	if c.Reference {
		return nil
	}
	if cols, known := outputColumns(m.SQL); known && !slices.Contains(cols, c.DistributedBy) {
		return bad("distributed_by: %s is not a column of the model (it has: %s)", c.DistributedBy, strings.Join(cols, ", "))
	}
	for _, ch := range c.Checks {
		// The declared key is the one unique check that may leave the
		// distribution column out: the check, not an index, holds it there.
		if ch.Kind == "unique" && !slices.Contains(ch.cols, c.DistributedBy) && !slices.Equal(ch.cols, c.Key) {
			return &Error{Path: m.Path, Line: ch.Line, Msg: fmt.Sprintf("check %s: a model distributed by %s keeps unique keys within a shard only: add %s to the key", ch.Name, c.DistributedBy, c.DistributedBy)}
		}
	}
	return nil
}

// checkKey holds a key to what it needs: a table, and columns the model
// outputs.
func (m *Model) checkKey() error {
	if m.Config.Key == nil {
		return nil
	}
	line := 0
	for i, l := range strings.Split(m.SQL, "\n") {
		if kv := headerLine.FindStringSubmatch(strings.TrimSpace(l)); kv != nil && kv[1] == "key" {
			line = i + 1
			break
		}
	}
	if m.Config.Materialized == View {
		return &Error{Path: m.Path, Line: line, Msg: "a view has no key (no index): declare -- materialized: table or incremental"}
	}
	if cols, known := outputColumns(m.SQL); known {
		for _, k := range m.Config.Key {
			if !slices.Contains(cols, k) {
				return &Error{Path: m.Path, Line: line, Msg: fmt.Sprintf("key: %s is not a column of the model (it has: %s)", k, strings.Join(cols, ", "))}
			}
		}
	}
	return nil
}

// KeyEnforced reports whether the engine keeps the model's key with a
// unique index: always on PostgreSQL; on a distributed engine, for a
// reference table or a key that holds the distribution column (a shard
// sees only its own rows). Elsewhere the key's unique check holds it.
func (c *Config) KeyEnforced(distributed bool) bool {
	if c.Key == nil {
		return false
	}
	return !distributed || c.DistributedBy == "" || slices.Contains(c.Key, c.DistributedBy)
}

// outputColumns names the columns a model's SELECT outputs, and whether it
// could tell them all (a * or an unnamed expression it cannot).
func outputColumns(sql string) ([]string, bool) {
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	for sel != nil && len(sel.TargetList) == 0 && sel.Larg != nil {
		sel = sel.Larg // a UNION: the first branch names the columns
	}
	if sel == nil {
		return nil, false
	}
	var cols []string
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		switch {
		case rt.GetName() != "":
			cols = append(cols, rt.GetName())
		case rt.GetVal().GetColumnRef() != nil:
			f := rt.GetVal().GetColumnRef().GetFields()
			name := f[len(f)-1].GetString_().GetSval()
			if name == "" {
				return cols, false // a *
			}
			cols = append(cols, name)
		default:
			return cols, false
		}
	}
	return cols, true
}

// unqualifiedRef is a relation read without its schema.
type unqualifiedRef struct {
	name string
	line int
}

// parseSQL checks the model is one SELECT and finds the relations it reads.
func (m *Model) parseSQL() error {
	tree, err := pg_query.Parse(m.SQL)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			return &Error{Path: m.Path, Line: lineAt(m.SQL, pe.Cursorpos-1), Msg: pe.Message}
		}
		return &Error{Path: m.Path, Msg: err.Error()}
	}
	if len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetSelectStmt() == nil {
		return &Error{Path: m.Path, Msg: "a model is exactly one SELECT statement (no DDL, no DML, no second statement)"}
	}
	if w, err := refuseWrites(m.SQL, tree); err != nil {
		return &Error{Path: m.Path, Line: lineAt(m.SQL, w.offset), Msg: err.Error()}
	}
	if m.normalized, err = pg_query.Deparse(tree); err != nil {
		return &Error{Path: m.Path, Msg: err.Error()}
	}
	refs, ctes := relations(tree)
	seen := map[string]bool{}
	for _, r := range refs {
		if r.schema == "" {
			if slices.Contains(ctes, r.name) {
				continue
			}
			if m.unqualified == nil {
				m.unqualified = &unqualifiedRef{name: r.name, line: lineAt(m.SQL, r.offset)}
			}
			continue
		}
		name := r.schema + "." + r.name
		if m.refLines == nil {
			m.refLines = map[string]int{}
		}
		if !seen[name] {
			seen[name] = true
			m.Refs = append(m.Refs, name)
			m.refLines[name] = lineAt(m.SQL, r.offset)
		}
	}
	slices.Sort(m.Refs)
	return nil
}

// LineOf returns the line of the first mention of name in the SQL, or 0.
func (m *Model) LineOf(name string) int {
	if l, ok := m.refLines[name]; ok {
		return l
	}
	lower := strings.ToLower(m.SQL)
	i := strings.Index(lower, strings.ToLower(name))
	if i < 0 {
		return 0
	}
	return lineAt(m.SQL, i)
}

func lineAt(s string, offset int) int {
	if offset < 0 {
		offset = 0
	}
	if offset > len(s) {
		offset = len(s)
	}
	return strings.Count(s[:offset], "\n") + 1
}

// discover reads every models/<schema>/**/*.sql under root in fsys.
func discover(fsys fs.FS, root string) ([]*Model, error) {
	var models []*Model
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p == path.Join(root, FunctionsDir) {
			return fs.SkipDir // functions, not models (functions.go)
		}
		if d.IsDir() || !strings.HasSuffix(p, ".sql") {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		m, err := parseModel(root, p, string(b))
		if err != nil {
			return err
		}
		models = append(models, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(models) == 0 {
		return nil, fmt.Errorf("%s: %w", root, ErrNoModels)
	}
	return models, nil
}

// ColumnVersions fingerprints each output column's SQL alone (see
// columnVersions): what tells which columns an edit changed. They are
// worked out when first asked for: most loads of a graph never need them,
// and planning 1,000 models took 40% longer when every load did. Nil if
// the SQL cannot be deparsed.
func (m *Model) ColumnVersions() map[string]string {
	m.columnsOnce.Do(func() {
		if tree, err := pg_query.Parse(m.SQL); err == nil {
			m.columnVersions, _ = columnVersions(tree)
		}
	})
	return m.columnVersions
}

// Body is the model's SELECT as it runs: its text without the blank space
// and semicolons at its ends.
func (m *Model) Body() string {
	return strings.TrimRight(strings.TrimSpace(m.SQL), "; \t\r\n")
}

// Key is the model's declared key, or else the columns of its first
// unique check: what tells its rows apart, for comparing two versions of
// them. Nil without either.
func (m *Model) Key() []string {
	if m.Config.Key != nil {
		return m.Config.Key
	}
	for _, c := range m.Config.Checks {
		if c.Kind == "unique" {
			return c.cols
		}
	}
	return nil
}
