package dag

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
	"github.com/pganalyze/pg_query_go/v6/parser"
)

// FunctionsDir is the folder under the models folder that holds a
// project's SQL functions, not models.
const FunctionsDir = "functions"

// varFunc is the function a model reads a pipelines.yaml var with.
const varFunc = "percolate.var"

// Function is a SQL function a project declares in
// models/functions/*.sql: Percolate creates it before the models that call
// it, and it is part of their versions.
type Function struct {
	Name   string // schema.name
	Schema string
	Path   string
	Line   int
	// Statements are its CREATE FUNCTION statements (one per overload) as
	// they run: CREATE OR REPLACE, so that a run may create them again.
	Statements []string
	// Calls are the project functions its bodies call; Vars the vars they
	// read ("*": a name not written as a constant, so all of them).
	Calls []string
	Vars  []string
	// Version fingerprints its statements, the functions it calls and the
	// values of the vars it reads.
	Version string

	normalized []string
}

// Project is what a graph knows of a project besides its models.
type Project struct {
	// Sources are relations that exist outside the models (staging
	// tables, seeds); schemas in External may be read freely (the ledger).
	Sources, External []string
	// Seeds are the seeds' relations and the hashes of their content: a
	// model reading one is rebuilt when its content changes.
	Seeds map[string]string
	// Vars are the values percolate.var('name') reads.
	Vars map[string]string
}

// LoadProject discovers the models and functions under root in fsys and
// resolves their dependencies on each other, the sources, the seeds and
// the vars.
func LoadProject(fsys fs.FS, root string, p Project) (*Graph, error) {
	sources := slices.Clone(p.Sources)
	for s := range p.Seeds {
		if !slices.Contains(sources, s) {
			sources = append(sources, s)
		}
	}
	g, err := Load(fsys, root, sources, p.External)
	if err != nil {
		return nil, err
	}
	fns, err := discoverFunctions(fsys, path.Join(root, FunctionsDir))
	if err != nil {
		return nil, err
	}
	for _, f := range fns {
		if whose := reservedSchema(f.Schema, sources, p.External); whose != "" {
			return nil, &Error{Path: f.Path, Line: f.Line, Msg: fmt.Sprintf("schema %s is %s: put function %s in a schema of the project's models", f.Schema, whose, f.Name)}
		}
	}
	if err := g.use(fns, p.Seeds, p.Vars); err != nil {
		return nil, err
	}
	return g, nil
}

// discoverFunctions reads every .sql file of dir, if there is one.
func discoverFunctions(fsys fs.FS, dir string) (map[string]*Function, error) {
	out := map[string]*Function{}
	entries, err := fs.ReadDir(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		p := path.Join(dir, e.Name())
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		if err := parseFunctions(p, string(b), out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseFunctions reads the CREATE FUNCTION statements of one file into fns.
func parseFunctions(file, sql string, fns map[string]*Function) error {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			return &Error{Path: file, Line: lineAt(sql, pe.Cursorpos-1), Msg: pe.Message}
		}
		return &Error{Path: file, Msg: err.Error()}
	}
	for _, raw := range tree.Stmts {
		line := lineAt(sql, int(raw.StmtLocation)+len(sql[raw.StmtLocation:])-len(strings.TrimLeft(sql[raw.StmtLocation:], " \t\r\n")))
		cf := raw.Stmt.GetCreateFunctionStmt()
		if cf == nil || cf.IsProcedure {
			return &Error{Path: file, Line: line, Msg: "only CREATE FUNCTION statements belong in models/functions"}
		}
		var parts []string
		for _, n := range cf.Funcname {
			parts = append(parts, n.GetString_().GetSval())
		}
		if len(parts) != 2 {
			return &Error{Path: file, Line: line, Msg: fmt.Sprintf("function %s has no schema: write it schema-qualified (CREATE FUNCTION schema.%s …), so the models calling it say which", strings.Join(parts, "."), parts[len(parts)-1])}
		}
		if s := parts[0]; s == "percolate" || s == "public" || strings.HasPrefix(s, "pg_") {
			return &Error{Path: file, Line: line, Msg: fmt.Sprintf("schema %s is not the project's: put function %s in a schema of the project's models", s, parts[1])}
		}
		cf.Replace = true
		stmt, err := pg_query.Deparse(&pg_query.ParseResult{Version: tree.Version, Stmts: []*pg_query.RawStmt{{Stmt: raw.Stmt}}})
		if err != nil {
			return &Error{Path: file, Line: line, Msg: err.Error()}
		}
		name := parts[0] + "." + parts[1]
		f := fns[name]
		if f == nil {
			f = &Function{Name: name, Schema: parts[0], Path: file, Line: line}
			fns[name] = f
		} else if f.Path != file {
			return &Error{Path: file, Line: line, Msg: fmt.Sprintf("function %s is also declared in %s: keep its overloads in one file", name, f.Path)}
		}
		f.Statements = append(f.Statements, stmt)
		f.normalized = append(f.normalized, stmt)
		calls, err := bodyCalls(cf, stmt)
		if err != nil {
			return &Error{Path: file, Line: line, Msg: err.Error()}
		}
		for _, c := range calls {
			f.addCall(c)
		}
	}
	return nil
}

// addCall notes a call of f's body.
func (f *Function) addCall(c call) {
	switch {
	case c.name == varFunc && !slices.Contains(f.Vars, c.arg):
		f.Vars = append(f.Vars, c.arg)
	case c.name != varFunc && c.name != f.Name && !slices.Contains(f.Calls, c.name):
		f.Calls = append(f.Calls, c.name)
	}
}

// plainCall finds schema.name( in a body PostgreSQL's SQL parser cannot
// read (PL/pgSQL), and percolate.var('name').
var plainCall = regexp.MustCompile(`(?i)\b([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*\(\s*('([a-z0-9_]*)')?`)

// bodyCalls lists the qualified functions a CREATE FUNCTION statement's
// body calls: from the parse tree of a SQL body (RETURN, BEGIN ATOMIC, or a
// quoted one), else from its text.
func bodyCalls(cf *pg_query.CreateFunctionStmt, stmt string) ([]call, error) {
	var lang, body string
	for _, o := range cf.Options {
		d := o.GetDefElem()
		switch d.GetDefname() {
		case "language":
			lang = d.GetArg().GetString_().GetSval()
		case "as":
			if items := d.GetArg().GetList().GetItems(); len(items) > 0 {
				body = items[0].GetString_().GetSval()
			}
		}
	}
	if cf.SqlBody != nil {
		return calls(stmt)
	}
	if strings.EqualFold(lang, "sql") {
		return calls(body)
	}
	var out []call
	for _, m := range plainCall.FindAllStringSubmatch(body, -1) {
		c := call{name: strings.ToLower(m[1] + "." + m[2])}
		if c.name == varFunc {
			c.arg = "*"
			if m[3] != "" {
				c.arg = m[4]
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// call is a call of a schema-qualified function in SQL.
type call struct {
	name string
	// arg, for percolate.var, is the var named ("*" when not a constant).
	arg    string
	offset int
}

// calls lists the schema-qualified function calls in sql, from its parse
// tree.
func calls(sql string) ([]call, error) {
	js, err := pg_query.ParseToJSON(sql)
	if err != nil {
		return nil, err
	}
	var tree any
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		return nil, err
	}
	var out []call
	var walk func(any)
	walk = func(n any) {
		switch v := n.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			if fc, ok := v["FuncCall"].(map[string]any); ok {
				if c, ok := funcCall(fc); ok {
					out = append(out, c)
				}
			}
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(tree)
	return out, nil
}

// funcCall reads one FuncCall node of pg_query's JSON.
func funcCall(fc map[string]any) (call, bool) {
	names, _ := fc["funcname"].([]any)
	var parts []string
	for _, n := range names {
		s, _ := n.(map[string]any)["String"].(map[string]any)
		sval, _ := s["sval"].(string)
		parts = append(parts, sval)
	}
	if len(parts) != 2 {
		return call{}, false
	}
	c := call{name: parts[0] + "." + parts[1]}
	if loc, ok := fc["location"].(float64); ok {
		c.offset = int(loc)
	}
	if c.name == varFunc {
		c.arg = "*"
		args, _ := fc["args"].([]any)
		if len(args) == 1 {
			if ac, ok := args[0].(map[string]any)["A_Const"].(map[string]any); ok {
				if sv, ok := ac["sval"].(map[string]any); ok {
					c.arg, _ = sv["sval"].(string)
				}
			}
		}
	}
	return c, true
}

// use resolves the functions, seeds and vars the models use, checks every
// var they read is declared, and works the versions out again with them.
func (g *Graph) use(fns map[string]*Function, seeds, vars map[string]string) error {
	g.functions, g.seeds, g.vars = fns, seeds, vars
	for _, f := range fns {
		for _, v := range f.Vars {
			if _, ok := vars[v]; !ok && v != "*" {
				return &Error{Path: f.Path, Line: f.Line, Msg: fmt.Sprintf("percolate.var('%s'): no var %s in pipelines.yaml's vars:%s", v, v, known(vars))}
			}
		}
	}
	for _, f := range fns {
		g.functionVersion(f, map[string]bool{})
	}
	for _, m := range g.Models {
		m.Functions, m.Vars = nil, nil
		if !mayCall(m.SQL, fns) {
			continue // most models: their parse tree need not be walked again
		}
		cs, err := calls(m.SQL)
		if err != nil {
			return &Error{Path: m.Path, Msg: err.Error()}
		}
		for _, c := range cs {
			switch {
			case c.name == varFunc:
				if _, ok := vars[c.arg]; !ok && c.arg != "*" {
					return &Error{Path: m.Path, Line: lineAt(m.SQL, c.offset), Msg: fmt.Sprintf("percolate.var('%s'): no var %s in pipelines.yaml's vars:%s", c.arg, c.arg, known(vars))}
				}
				if !slices.Contains(m.Vars, c.arg) {
					m.Vars = append(m.Vars, c.arg)
				}
			case fns[c.name] != nil && !slices.Contains(m.Functions, c.name):
				m.Functions = append(m.Functions, c.name)
			}
		}
		slices.Sort(m.Functions)
		slices.Sort(m.Vars)
	}
	for _, m := range g.Models {
		m.Version = version(m, g)
	}
	return nil
}

// known lists the declared vars, for an error.
func known(vars map[string]string) string {
	if len(vars) == 0 {
		return " it declares none"
	}
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.Sort(names)
	return " it declares " + strings.Join(names, ", ")
}

// functionVersion works out f's version, after those of the functions it
// calls; a function in a cycle of calls is fingerprinted without the
// versions of the cycle.
func (g *Graph) functionVersion(f *Function, visiting map[string]bool) string {
	if f.Version != "" || visiting[f.Name] {
		return f.Version
	}
	visiting[f.Name] = true
	h := sha256.New()
	for _, s := range f.normalized {
		fmt.Fprintf(h, "%s\x00", s)
	}
	slices.Sort(f.Calls)
	for _, c := range f.Calls {
		if callee := g.functions[c]; callee != nil {
			fmt.Fprintf(h, "fn %s=%s\x00", c, g.functionVersion(callee, visiting))
		}
	}
	slices.Sort(f.Vars)
	g.writeVars(h, f.Vars)
	f.Version = hex.EncodeToString(h.Sum(nil))[:16]
	return f.Version
}

// writeVars adds the values of the vars named to a fingerprint.
func (g *Graph) writeVars(h interface{ Write([]byte) (int, error) }, names []string) {
	for _, v := range names {
		if v == "*" {
			for _, n := range sortedKeys(g.vars) {
				fmt.Fprintf(h, "var %s=%s\x00", n, g.vars[n])
			}
			continue
		}
		fmt.Fprintf(h, "var %s=%s\x00", v, g.vars[v])
	}
}

// writeUses adds to m's version what it uses besides its parents: the
// versions of the functions it calls, the vars it reads and the content of
// the seeds it reads.
func (g *Graph) writeUses(h interface{ Write([]byte) (int, error) }, m *Model) {
	for _, f := range m.Functions {
		fmt.Fprintf(h, "fn %s=%s\x00", f, g.functions[f].Version)
	}
	g.writeVars(h, m.Vars)
	for _, s := range m.Sources {
		if hash, ok := g.seeds[s]; ok {
			fmt.Fprintf(h, "seed %s=%s\x00", s, hash)
		}
	}
}

// Functions returns the project's functions, each after the functions it
// calls (then by name): the order to create them in.
func (g *Graph) Functions() []*Function {
	var out []*Function
	done := map[string]bool{}
	var visit func(f *Function)
	visit = func(f *Function) {
		if done[f.Name] {
			return
		}
		done[f.Name] = true
		for _, c := range f.Calls {
			if callee := g.functions[c]; callee != nil {
				visit(callee)
			}
		}
		out = append(out, f)
	}
	for _, n := range sortedKeys(g.functions) {
		visit(g.functions[n])
	}
	return out
}

// Function returns the named project function, or nil.
func (g *Graph) Function(name string) *Function { return g.functions[name] }

// Vars returns the vars the graph was loaded with.
func (g *Graph) Vars() map[string]string { return g.vars }

// Seed returns the content hash of the seed name, and whether it is one.
func (g *Graph) Seed(name string) (string, bool) {
	h, ok := g.seeds[name]
	return h, ok
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// FunctionSchemas lists the schemas of the functions declared under the
// models folder root in fsys, sorted: schemas a project's models own.
func FunctionSchemas(fsys fs.FS, root string) ([]string, error) {
	fns, err := discoverFunctions(fsys, path.Join(root, FunctionsDir))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, f := range fns {
		if !slices.Contains(out, f.Schema) {
			out = append(out, f.Schema)
		}
	}
	slices.Sort(out)
	return out, nil
}

// mayCall reports whether sql names percolate.var or one of fns, as text
// (a comment may, a call must).
func mayCall(sql string, fns map[string]*Function) bool {
	lower := strings.ToLower(sql)
	if strings.Contains(lower, "percolate.var") {
		return true
	}
	for name := range fns {
		if strings.Contains(lower, name) {
			return true
		}
	}
	return false
}

// FunctionNames lists the functions declared under the models folder root
// in fsys (schema.name), sorted.
func FunctionNames(fsys fs.FS, root string) ([]string, error) {
	fns, err := discoverFunctions(fsys, path.Join(root, FunctionsDir))
	if err != nil {
		return nil, err
	}
	return sortedKeys(fns), nil
}

// CallOf finds a call of the function name (schema.name) by a model or a
// project function of g: the file and line of the first, and whether
// there is one.
func (g *Graph) CallOf(name string) (file string, line int, ok bool) {
	for _, m := range g.Models {
		if !strings.Contains(strings.ToLower(m.SQL), name) {
			continue
		}
		cs, err := calls(m.SQL)
		if err != nil {
			continue // the graph parsed it: it cannot fail here
		}
		for _, c := range cs {
			if c.name == name {
				return m.Path, lineAt(m.SQL, c.offset), true
			}
		}
	}
	for _, f := range g.Functions() {
		if slices.Contains(f.Calls, name) {
			return f.Path, f.Line, true
		}
	}
	return "", 0, false
}
