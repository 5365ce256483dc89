// Package unit runs a model's unit tests: fixed rows given for the
// relations it reads, and the rows it must return, per named case, from a
// file models/<schema>/<name>.test.yaml beside the model. Cases run in
// temporary tables of one transaction that is rolled back: they need no
// staging data, no loaded file and no built model, and change nothing.
package unit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/percolate/percolate/internal/dag"
)

// Suffix ends the name of a model's test file: models/marts/x.test.yaml
// tests models/marts/x.sql.
const Suffix = ".test.yaml"

// Case is one named case of a model's tests.
type Case struct {
	Model *dag.Model
	Name  string
	Path  string // the test file, as the model's path is written
	Line  int
	// From and To bound the days an incremental model is built for, both
	// included, as backfill's --from and --to; "" leaves a bound open.
	From, To string
	// Given are rows of the relations the model reads; a relation not
	// given is empty.
	Given []*Rows
	// Expect are the rows the model must return: only their columns are
	// compared, as a multiset.
	Expect *Rows
}

// Rows are rows of one relation, as written in a case.
type Rows struct {
	Rel  string // schema.name; "" for the expected rows
	Line int
	Rows []Row
}

// Row is one row: the columns it gives, as JSON values.
type Row struct {
	Line   int
	Values map[string]json.RawMessage
	Cols   []string // the columns in the order written
}

// Columns lists the columns the rows name, in the order first named.
func (r *Rows) Columns() []string {
	var cols []string
	seen := map[string]bool{}
	for _, row := range r.Rows {
		for _, c := range row.Cols {
			if !seen[c] {
				seen[c] = true
				cols = append(cols, c)
			}
		}
	}
	return cols
}

// file is a test file as written.
type file struct {
	Cases []caseDoc `yaml:"cases"`
}

type caseDoc struct {
	Name        string       `yaml:"name"`
	Description string       `yaml:"description"`
	Interval    *intervalDoc `yaml:"interval"`
	Given       yaml.Node    `yaml:"given"`
	Expect      yaml.Node    `yaml:"expect"`
}

type intervalDoc struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// keys says what a part of a test file may hold, for a misspelt key.
var keys = map[string]string{
	"file":        "cases",
	"caseDoc":     "name, description, interval, given, expect",
	"intervalDoc": "from, to",
}

var unknownKey = regexp.MustCompile(`^line (\d+): field (\S+) not found in type unit\.(\w+)$`)

// yamlError words yaml.v3's errors as FILE:LINE: message.
func yamlError(p string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		if m := unknownKey.FindStringSubmatch(te.Errors[0]); m != nil {
			line, _ := strconv.Atoi(m[1])
			return &dag.Error{Path: p, Line: line, Msg: fmt.Sprintf("unknown key %q (want %s)", m[2], keys[m[3]])}
		}
		err = errors.New(te.Errors[0])
	}
	return &dag.Error{Path: p, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
}

// Load reads the test files of the models of g found in fsys (the folder
// the models' paths are relative to). A test file beside no model is an
// error: its cases would never run. Problems in a file are *dag.Error, as
// problems in a model file are.
func Load(fsys fs.FS, g *dag.Graph) ([]*Case, error) {
	byPath := map[string]*dag.Model{}
	roots := map[string]bool{}
	for _, m := range g.Models {
		byPath[strings.TrimSuffix(m.Path, ".sql")+Suffix] = m
		roots[strings.SplitN(m.Path, "/", 2)[0]] = true
	}
	var cases []*Case
	for root := range roots {
		err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, Suffix) {
				return err
			}
			m := byPath[p]
			if m == nil {
				return &dag.Error{Path: p, Msg: fmt.Sprintf("no model %s beside it: a test file is named after the model it tests", path.Base(strings.TrimSuffix(p, Suffix)+".sql"))}
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			cs, err := parse(p, b, m)
			cases = append(cases, cs...)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	slices.SortStableFunc(cases, func(a, b *Case) int { return strings.Compare(a.Path, b.Path) })
	return cases, nil
}

// parse reads one test file of model m.
func parse(p string, b []byte, m *dag.Model) ([]*Case, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, yamlError(p, err)
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &dag.Error{Path: p, Msg: "empty: want cases: [{name, given, expect}, …]"}
		}
		return nil, yamlError(p, err)
	}
	lines := caseLines(&doc)
	var out []*Case
	names := map[string]bool{}
	for i, fc := range f.Cases {
		c := &Case{Model: m, Name: fc.Name, Path: p}
		if i < len(lines) {
			c.Line = lines[i]
		}
		switch {
		case c.Name == "":
			return nil, &dag.Error{Path: p, Line: c.Line, Msg: "a case without a name"}
		case names[c.Name]:
			return nil, c.bad(c.Line, "named twice")
		}
		names[c.Name] = true
		if err := c.read(fc); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, &dag.Error{Path: p, Msg: "no cases: want cases: [{name, given, expect}, …]"}
	}
	return out, nil
}

// bad is an error in the case's file at line, naming the case.
func (c *Case) bad(line int, format string, args ...any) error {
	return &dag.Error{Path: c.Path, Line: line, Msg: fmt.Sprintf("case %q: ", c.Name) + fmt.Sprintf(format, args...)}
}

// read fills the case from its declaration fc: its interval, the rows
// given and the rows expected.
func (c *Case) read(fc caseDoc) error {
	m := c.Model
	if fc.Interval != nil {
		if err := c.readInterval(fc.Interval.From, fc.Interval.To); err != nil {
			return err
		}
	}
	if fc.Given.Kind != 0 {
		if fc.Given.Kind != yaml.MappingNode {
			return c.bad(fc.Given.Line, "given: want a map of relation: rows")
		}
		for j := 0; j+1 < len(fc.Given.Content); j += 2 {
			k, v := fc.Given.Content[j], fc.Given.Content[j+1]
			if !slices.Contains(m.Refs, k.Value) {
				return c.bad(k.Line, "given %s: %s does not read it (it reads %s)", k.Value, m.Name, strings.Join(m.Refs, ", "))
			}
			rows, err := rowsOf(v, k.Value, c.bad)
			if err != nil {
				return err
			}
			c.Given = append(c.Given, rows)
		}
	}
	if fc.Expect.Kind == 0 {
		return c.bad(c.Line, "no expect: the rows the model must return (expect: [] for none)")
	}
	rows, err := rowsOf(&fc.Expect, "", c.bad)
	if err != nil {
		return err
	}
	// A column one expected row leaves out would be expected NULL
	// there: say so rather than fail on a reading nobody meant.
	cols := rows.Columns()
	for _, r := range rows.Rows {
		if len(r.Values) != len(cols) {
			return c.bad(r.Line, "expect: every row names the same columns (%s); write null for a NULL", strings.Join(cols, ", "))
		}
	}
	c.Expect = rows
	return nil
}

// readInterval checks the days a case of an incremental model builds.
func (c *Case) readInterval(from, to string) error {
	m := c.Model
	if m.Config.Materialized != dag.Incremental {
		return c.bad(c.Line, "interval: %s is not incremental, so it is built for all days at once", m.Name)
	}
	for _, d := range []string{from, to} {
		if _, err := time.Parse(time.DateOnly, d); d != "" && err != nil {
			return c.bad(c.Line, "interval: %q is not a day (YYYY-MM-DD)", d)
		}
	}
	if from != "" && to != "" && to < from {
		return c.bad(c.Line, "interval: to %s is before from %s", to, from)
	}
	c.From, c.To = from, to
	return nil
}

// caseLines finds the line of each case in a parsed file.
func caseLines(doc *yaml.Node) []int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	top := doc.Content[0].Content
	for i := 0; i+1 < len(top); i += 2 {
		if top[i].Value == "cases" {
			var lines []int
			for _, c := range top[i+1].Content {
				lines = append(lines, c.Line)
			}
			return lines
		}
	}
	return nil
}

// rowsOf reads a sequence of maps of column: value.
func rowsOf(n *yaml.Node, rel string, bad func(int, string, ...any) error) (*Rows, error) {
	what := "expect"
	if rel != "" {
		what = "given " + rel
	}
	if n.Kind != yaml.SequenceNode {
		return nil, bad(n.Line, "%s: want a list of rows, each a map of column: value", what)
	}
	rows := &Rows{Rel: rel, Line: n.Line}
	for _, r := range n.Content {
		if r.Kind != yaml.MappingNode {
			return nil, bad(r.Line, "%s: a row is a map of column: value", what)
		}
		row := Row{Line: r.Line, Values: map[string]json.RawMessage{}}
		for j := 0; j+1 < len(r.Content); j += 2 {
			k, v := r.Content[j], r.Content[j+1]
			if _, dup := row.Values[k.Value]; dup {
				return nil, bad(k.Line, "%s: column %s given twice in a row", what, k.Value)
			}
			val, err := jsonValue(v)
			if err != nil {
				return nil, bad(v.Line, "%s: column %s: %v", what, k.Value, err)
			}
			row.Values[k.Value] = val
			row.Cols = append(row.Cols, k.Value)
		}
		rows.Rows = append(rows.Rows, row)
	}
	return rows, nil
}

// jsonValue is a scalar as JSON: numbers keep the digits written (2.50
// stays 2.50, never a float), days and times are strings the column's type
// reads.
func jsonValue(v *yaml.Node) (json.RawMessage, error) {
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	if v.Kind != yaml.ScalarNode {
		return nil, errors.New("want a single value (quote text that looks like a list or map)")
	}
	switch v.ShortTag() {
	case "!!null":
		return json.RawMessage("null"), nil
	case "!!bool":
		var b bool
		if err := v.Decode(&b); err != nil {
			return nil, err
		}
		return json.Marshal(b)
	case "!!int", "!!float":
		if json.Valid([]byte(v.Value)) {
			return json.RawMessage(v.Value), nil
		}
	}
	return json.Marshal(v.Value)
}
