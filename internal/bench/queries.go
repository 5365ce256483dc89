package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// QuerySet is a project's read benchmark: named queries that name
// relations without a schema, so that each runs unchanged on the core (its
// schema first on the search path) and on keyed copies of the core's
// relations, and what those copies hold.
//
// It is read from a SQL file whose header comments declare it:
//
//	-- schema: core
//	-- keyed: events (event_id)
//	-- index: events (day)
//	-- param: day = SELECT max(day) FROM events
//	-- within: 1.5
//
//	-- query: a day's events
//	-- target: 5ms
//	SELECT … FROM events WHERE day = date :'day';
//
// A param is read once, on the keyed side, and written into the queries
// (and the params after it) as a quoted literal where they say :'name', as
// psql's variables are.
type QuerySet struct {
	Path    string
	Schema  string  // where the core is
	Keyed   []Copy  // the relations copied, each with its primary key
	Indexes []Copy  // the copies' other indexes
	Params  []Param // read before the queries run
	Within  float64 // the ratio to the keyed side a query should stay within (0: none)
	Queries []Query
}

// Copy is a relation of the core and columns of its keyed copy: its key,
// or an index on them.
type Copy struct {
	Relation string
	Columns  []string
	Line     int
}

// Param is a value the queries use, read by a query of its own.
type Param struct {
	Name, SQL string
	Line      int
}

// Query is one named query of a QuerySet.
type Query struct {
	Name string
	SQL  string // with :'param' references
	// Target is the server time a query should take on the core, such as
	// a point lookup's (0: none).
	Target  time.Duration
	Line    int
	sqlLine int // where its SQL begins
}

var (
	headerLine = regexp.MustCompile(`^--\s*([a-z_]+):\s*(.*?)\s*$`)
	copyValue  = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*\(\s*([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*\)$`)
	paramValue = regexp.MustCompile(`^([a-z_][a-z0-9_]*)\s*=\s*(\S.*)$`)
	paramRef   = regexp.MustCompile(`:'([A-Za-z_][A-Za-z0-9_]*)'`)
)

// ReadQuerySet reads and checks a query set file. Errors name the file,
// line and column.
func ReadQuerySet(path string) (*QuerySet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseQuerySet(path, b)
}

// queryParser is the state of reading a query set, line by line.
type queryParser struct {
	set  *QuerySet
	cur  *Query // the query being read, nil in the file's header
	body bool   // the current query's SQL has begun: comments are SQL
	sql  strings.Builder
}

func parseQuerySet(path string, b []byte) (*QuerySet, error) {
	p := &queryParser{set: &QuerySet{Path: path}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if err := p.line(n, sc.Text()); err != nil {
			return nil, fmt.Errorf("%s:%w", path, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := p.end(); err != nil {
		return nil, fmt.Errorf("%s:%w", path, err)
	}
	return p.set, p.check()
}

// lineError is an error at a line and column of the file, which the
// caller prefixes with its name.
func lineError(line, col int, format string, args ...any) error {
	return fmt.Errorf("%d:%d: %s", line, col, fmt.Sprintf(format, args...))
}

func (p *queryParser) line(n int, text string) error {
	m := headerLine.FindStringSubmatch(text)
	if m != nil && m[1] == "query" {
		if err := p.end(); err != nil {
			return err
		}
		if m[2] == "" {
			return lineError(n, 1, "query: want a name")
		}
		p.cur = &Query{Name: m[2], Line: n}
		return nil
	}
	if p.cur != nil && p.body {
		p.sql.WriteString(text)
		p.sql.WriteByte('\n')
		return nil
	}
	if m == nil {
		if t := strings.TrimSpace(text); t == "" || strings.HasPrefix(t, "--") {
			return nil
		}
		if p.cur == nil {
			return lineError(n, 1, "SQL before the first \"-- query: name\"")
		}
		p.body, p.cur.sqlLine = true, n
		p.sql.WriteString(text)
		p.sql.WriteByte('\n')
		return nil
	}
	col := strings.Index(text, m[2]) + 1
	if p.cur != nil {
		return p.queryHeader(n, col, m[1], m[2])
	}
	return p.fileHeader(n, col, m[1], m[2])
}

func (p *queryParser) queryHeader(n, col int, key, value string) error {
	if key != "target" {
		return lineError(n, 1, "%s: not a query's header (want target, before its SQL)", key)
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return lineError(n, col, "target: want a duration such as 5ms, got %q", value)
	}
	p.cur.Target = d
	return nil
}

func (p *queryParser) fileHeader(n, col int, key, value string) error {
	s := p.set
	switch key {
	case "schema":
		if !copyValue.MatchString(value + " (x)") {
			return lineError(n, col, "schema: want a name, got %q", value)
		}
		s.Schema = value
	case "keyed", "index":
		m := copyValue.FindStringSubmatch(value)
		if m == nil {
			return lineError(n, col, "%s: want \"relation (column, …)\", got %q", key, value)
		}
		c := Copy{Relation: m[1], Line: n}
		for _, f := range strings.Split(m[2], ",") {
			c.Columns = append(c.Columns, strings.TrimSpace(f))
		}
		if key == "index" {
			s.Indexes = append(s.Indexes, c)
			return nil
		}
		for _, k := range s.Keyed {
			if k.Relation == c.Relation {
				return lineError(n, col, "keyed: %s is keyed already, on line %d", c.Relation, k.Line)
			}
		}
		s.Keyed = append(s.Keyed, c)
	case "param":
		m := paramValue.FindStringSubmatch(value)
		if m == nil {
			return lineError(n, col, "param: want \"name = SELECT …\", got %q", value)
		}
		for _, q := range s.Params {
			if q.Name == m[1] {
				return lineError(n, col, "param: %s is declared already, on line %d", m[1], q.Line)
			}
		}
		s.Params = append(s.Params, Param{Name: m[1], SQL: m[2], Line: n})
	case "within":
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || f < 1 {
			return lineError(n, col, "within: want a ratio of 1 or more, such as 1.5, got %q", value)
		}
		s.Within = f
	default:
		return lineError(n, 1, "%s: not a header (want schema, keyed, index, param, within, or query to start a query)", key)
	}
	return nil
}

// end closes the query being read.
func (p *queryParser) end() error {
	q := p.cur
	if q == nil {
		return nil
	}
	q.SQL = strings.TrimSpace(p.sql.String())
	q.SQL = strings.TrimSpace(strings.TrimSuffix(q.SQL, ";"))
	if q.SQL == "" {
		return lineError(q.Line, 1, "query %q: no SQL", q.Name)
	}
	for _, o := range p.set.Queries {
		if o.Name == q.Name {
			return lineError(q.Line, 1, "query %q: named already, on line %d", q.Name, o.Line)
		}
	}
	p.set.Queries = append(p.set.Queries, *q)
	p.cur, p.body = nil, false
	p.sql.Reset()
	return nil
}

// check holds the whole set together: a schema, something keyed, indexes
// on keyed relations, params that are declared.
func (p *queryParser) check() error {
	s := p.set
	if s.Schema == "" {
		return fmt.Errorf("%s: no \"-- schema: name\" says where the core is", s.Path)
	}
	if len(s.Keyed) == 0 {
		return fmt.Errorf("%s: no \"-- keyed: relation (key, …)\" says what to copy", s.Path)
	}
	if len(s.Queries) == 0 {
		return fmt.Errorf("%s: no \"-- query: name\"", s.Path)
	}
	keyed := map[string]bool{}
	for _, k := range s.Keyed {
		keyed[k.Relation] = true
	}
	for _, ix := range s.Indexes {
		if !keyed[ix.Relation] {
			return fmt.Errorf("%s:%d: index: %s is not keyed (declare \"-- keyed: %s (…)\")", s.Path, ix.Line, ix.Relation, ix.Relation)
		}
	}
	declared := map[string]bool{}
	for _, pr := range s.Params {
		for _, m := range paramRef.FindAllStringSubmatch(pr.SQL, -1) {
			if !declared[m[1]] {
				return fmt.Errorf("%s:%d: param %s: uses %s, not declared before it", s.Path, pr.Line, pr.Name, m[1])
			}
		}
		declared[pr.Name] = true
	}
	for _, q := range s.Queries {
		for _, m := range paramRef.FindAllStringSubmatchIndex(q.SQL, -1) {
			if name := q.SQL[m[2]:m[3]]; !declared[name] {
				line, col := position(q, m[0])
				return fmt.Errorf("%s:%d:%d: query %q: param %s is not declared (\"-- param: %s = SELECT …\")", s.Path, line, col, q.Name, name, name)
			}
		}
	}
	return nil
}

// position is the file's line and column of offset i of q's SQL.
func position(q Query, i int) (line, col int) {
	before := q.SQL[:i]
	nl := strings.Count(before, "\n")
	return q.sqlLine + nl, i - strings.LastIndexByte(before, '\n')
}

// bind writes the params' values into sql, each as a quoted literal.
func bind(sql string, values map[string]string) string {
	return paramRef.ReplaceAllStringFunc(sql, func(ref string) string {
		v := values[paramRef.FindStringSubmatch(ref)[1]]
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	})
}
