package unit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/staging"
)

// Result is how a case went.
type Result struct {
	Case   *Case  `json:"-"`
	Model  string `json:"model"`
	Name   string `json:"case"`
	Where  string `json:"where"` // FILE:LINE of the case
	Passed bool   `json:"passed"`
	// Err is why the case could not be compared: the model failed on the
	// given rows, or a value does not fit its column.
	Err string `json:"error,omitempty"`
	// Missing are expected rows the model did not return; Unexpected rows
	// it returned that were not expected; Changed pairs the two by the
	// model's key (its unique check) where both have a row for it.
	Missing    []json.RawMessage `json:"missing,omitempty"`
	Unexpected []json.RawMessage `json:"unexpected,omitempty"`
	Changed    []Change          `json:"changed,omitempty"`
	Took       time.Duration     `json:"-"`
}

// Change is an expected row and the row returned in its place: the same
// key, other values.
type Change struct {
	Key     json.RawMessage `json:"key"`
	Columns []ColumnChange  `json:"columns"`
}

// ColumnChange is one column of a Change.
type ColumnChange struct {
	Column string          `json:"column"`
	Want   json.RawMessage `json:"want"`
	Got    json.RawMessage `json:"got"`
}

// Run runs the cases on pool, in one transaction that it rolls back. have
// gives the shapes of the source tables (as the migrations make them); a
// source they do not make is taken from the database. Models are stood in
// for by empty tables of the columns their SQL returns, so a case reads
// only its own rows. An error is returned only when the cases cannot run
// at all; a case that fails says why in its Result.
func Run(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, cases []*Case, have *staging.Schema) ([]*Result, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("unit tests: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// Values print the same on every machine; a model that depends on the
	// session's time zone would be wrong anyway.
	if _, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO'"); err != nil {
		return nil, fmt.Errorf("unit tests: %w", err)
	}
	// The project's functions and vars, as a build makes them.
	if err := build.PrepareUses(ctx, tx, g); err != nil {
		return nil, err
	}
	// A case runs its model as a build does (docs/security.md).
	if err := pg.AsModels(ctx, tx); err != nil {
		return nil, fmt.Errorf("unit tests: %w", err)
	}
	cols, err := standIns(ctx, tx, g, cases, have)
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, c := range cases {
		r, err := runCase(ctx, tx, c, cols)
		if err != nil {
			return out, fmt.Errorf("%s:%d: case %q: %w", c.Path, c.Line, c.Name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// standIn is the temporary table a case reads for relation rel.
func standIn(rel string) (string, bool) { return "pg_temp." + rel, true }

func standInIdent(rel string) string { return pg.Ident("pg_temp", rel) }

// standIns creates an empty temporary table for each relation the cases'
// models read, and for what those read in turn (a model's columns come
// from its SQL), and returns each one's columns.
func standIns(ctx context.Context, tx pgx.Tx, g *dag.Graph, cases []*Case, have *staging.Schema) (map[string][]string, error) {
	models := map[string]bool{}
	for _, c := range cases {
		for _, p := range c.Model.Parents {
			models[p] = true
			for _, a := range g.Ancestors(g.Model(p)) {
				models[a] = true
			}
		}
	}
	sources := map[string]*dag.Model{} // a source, and a model that reads it
	for _, m := range g.Models {
		if models[m.Name] || slices.ContainsFunc(cases, func(c *Case) bool { return c.Model == m }) {
			for _, s := range m.Sources {
				sources[s] = m
			}
		}
	}
	cols := map[string][]string{}
	for _, s := range slices.Sorted(maps.Keys(sources)) {
		if err := sourceStandIn(ctx, tx, s, sources[s], have); err != nil {
			return nil, err
		}
	}
	for _, m := range g.Models {
		if !models[m.Name] {
			continue
		}
		sql, err := dag.Rewrite(m.Body(), standIn)
		if err != nil {
			return nil, &dag.Error{Path: m.Path, Msg: err.Error()}
		}
		sql = build.Bind(sql, "", "")
		prefix := "CREATE TEMP TABLE " + standInIdent(m.Name) + " AS\n"
		if _, err := tx.Exec(ctx, prefix+sql+"\nWITH NO DATA"); err != nil {
			return nil, build.ErrorAt(m, err, prefix, sql)
		}
	}
	for rel := range models {
		sources[rel] = nil
	}
	for rel := range sources {
		c, err := columnsOf(ctx, tx, standInIdent(rel))
		if err != nil {
			return nil, err
		}
		cols[rel] = c
	}
	return cols, nil
}

// sourceStandIn creates the stand-in of source table rel, read by m.
func sourceStandIn(ctx context.Context, tx pgx.Tx, rel string, m *dag.Model, have *staging.Schema) error {
	schema, name, _ := strings.Cut(rel, ".")
	if t := have.Tables[rel]; t != nil {
		var defs []string
		for _, c := range t.Columns {
			decl := c.Decl
			if strings.Contains(strings.ToLower(decl), "serial") {
				decl = c.Type // a stand-in has no sequence
			}
			defs = append(defs, pg.Ident(c.Name)+" "+decl)
		}
		_, err := tx.Exec(ctx, "CREATE TEMP TABLE "+standInIdent(rel)+" ("+strings.Join(defs, ", ")+")")
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", pg.Ident(schema, name)).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return &dag.Error{Path: m.Path, Line: m.LineOf(rel), Msg: fmt.Sprintf("reads %s, which neither %s nor the database makes", rel, have.From)}
	}
	_, err := tx.Exec(ctx, "CREATE TEMP TABLE "+standInIdent(rel)+" (LIKE "+pg.Ident(schema, name)+")")
	return err
}

// columnsOf names the columns of rel.
func columnsOf(ctx context.Context, tx pgx.Tx, rel string) ([]string, error) {
	cols, err := pg.Columns(ctx, tx, rel)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	return names, err
}

// caseError is a case that could not be compared.
type caseError struct{ msg string }

func (e *caseError) Error() string { return e.msg }

// runCase runs one case inside a savepoint it rolls back to.
func runCase(ctx context.Context, tx pgx.Tx, c *Case, cols map[string][]string) (*Result, error) {
	r := &Result{Case: c, Model: c.Model.Name, Name: c.Name, Where: fmt.Sprintf("%s:%d", c.Path, c.Line)}
	start := time.Now()
	if _, err := tx.Exec(ctx, "SAVEPOINT unit_case"); err != nil {
		return nil, err
	}
	err := compare(ctx, tx, c, cols, r)
	if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT unit_case"); rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	r.Took = time.Since(start)
	var ce *caseError
	switch {
	case errors.As(err, &ce):
		r.Err = ce.msg
	case err != nil:
		return nil, err
	default:
		r.Passed = len(r.Missing)+len(r.Unexpected)+len(r.Changed) == 0
	}
	return r, nil
}

// compare fills the stand-ins with the case's rows, runs the model on
// them and compares what it returns with what the case expects.
func compare(ctx context.Context, tx pgx.Tx, c *Case, cols map[string][]string, r *Result) error {
	m := c.Model
	at := func(line int, format string, args ...any) error {
		return &caseError{fmt.Sprintf("%s:%d: ", c.Path, line) + fmt.Sprintf(format, args...)}
	}
	for _, rows := range c.Given {
		if err := insert(ctx, tx, into{standInIdent(rows.Rel), cols[rows.Rel], "given " + rows.Rel}, rows, at); err != nil {
			return err
		}
	}
	sql, err := dag.Rewrite(m.Body(), standIn)
	if err != nil {
		return err
	}
	end := ""
	if c.To != "" {
		to, _ := time.Parse(time.DateOnly, c.To)
		end = to.AddDate(0, 0, 1).Format(time.DateOnly)
	}
	sql = build.Bind(sql, c.From, end)
	prefix := "CREATE TEMP TABLE pg_temp.percolate_actual AS SELECT * FROM (\n"
	where := ""
	if tc := m.Config.TimeColumn; m.Config.Materialized == dag.Incremental {
		// As a build of the interval keeps only its days' rows.
		where = fmt.Sprintf(" WHERE m.%s >= %s AND m.%s < %s", pg.Ident(tc), build.Bind("percolate.interval_start()", c.From, end),
			pg.Ident(tc), build.Bind("percolate.interval_end()", c.From, end))
	}
	if _, err := tx.Exec(ctx, prefix+sql+"\n) AS m"+where); err != nil {
		return &caseError{build.ErrorAt(m, err, prefix, sql).Error()}
	}
	have, err := columnsOf(ctx, tx, "pg_temp.percolate_actual")
	if err != nil {
		return err
	}
	want := c.Expect.Columns()
	if len(want) == 0 {
		want = have
	}
	if _, err := tx.Exec(ctx, "CREATE TEMP TABLE pg_temp.percolate_expected (LIKE pg_temp.percolate_actual)"); err != nil {
		return err
	}
	if err := insert(ctx, tx, into{"pg_temp.percolate_expected", have, "expect"}, c.Expect, at); err != nil {
		return err
	}
	list := make([]string, len(want))
	for i, col := range want {
		list[i] = pg.Ident(col)
	}
	diff := func(a, b string) ([]json.RawMessage, error) {
		rows, err := tx.Query(ctx, fmt.Sprintf("SELECT row_to_json(d)::text FROM (SELECT %[1]s FROM %[2]s EXCEPT ALL SELECT %[1]s FROM %[3]s) AS d ORDER BY 1",
			strings.Join(list, ", "), a, b))
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, pgx.RowTo[json.RawMessage])
	}
	if r.Missing, err = diff("pg_temp.percolate_expected", "pg_temp.percolate_actual"); err != nil {
		return &caseError{fmt.Sprintf("%s:%d: compare: %s", c.Path, c.Expect.Line, pg.Describe(err))}
	}
	if r.Unexpected, err = diff("pg_temp.percolate_actual", "pg_temp.percolate_expected"); err != nil {
		return err
	}
	r.Missing, r.Unexpected, r.Changed = pair(r.Missing, r.Unexpected, m.Key(), want)
	return nil
}

// into is a table a case's rows are written into.
type into struct {
	table string
	cols  []string // its columns
	what  string   // what a message calls the rows: given rel, expect
}

// insert writes rows into a table, one statement a row so that a value
// its column refuses is named by its line (by at).
func insert(ctx context.Context, tx pgx.Tx, t into, rows *Rows, at func(int, string, ...any) error) error {
	table, what := t.table, t.what
	for _, row := range rows.Rows {
		for _, col := range row.Cols {
			if !slices.Contains(t.cols, col) {
				return at(row.Line, "%s: no column %s (it has %s)", what, col, strings.Join(t.cols, ", "))
			}
		}
		b, err := json.Marshal(row.Values)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "SAVEPOINT unit_row"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT * FROM json_populate_record(NULL::%s, $1)", table, table), b); err != nil {
			return at(row.Line, "%s: %s", what, pg.Describe(err))
		}
		if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT unit_row"); err != nil {
			return err
		}
	}
	return nil
}

// pair matches missing and unexpected rows that have the same key: each
// such pair is a changed row, with the columns that differ.
func pair(missing, unexpected []json.RawMessage, key, cols []string) ([]json.RawMessage, []json.RawMessage, []Change) {
	if len(key) == 0 || slices.ContainsFunc(key, func(k string) bool { return !slices.Contains(cols, k) }) {
		return missing, unexpected, nil
	}
	decode := func(raw json.RawMessage) map[string]json.RawMessage {
		var v map[string]json.RawMessage
		json.Unmarshal(raw, &v)
		return v
	}
	keyOf := func(v map[string]json.RawMessage) string {
		var b strings.Builder
		for _, k := range key {
			b.WriteString(pg.JSONValue(v[k]) + "\x00")
		}
		return b.String()
	}
	got := map[string][]int{}
	for i, raw := range unexpected {
		k := keyOf(decode(raw))
		got[k] = append(got[k], i)
	}
	used := map[int]bool{}
	var restMissing []json.RawMessage
	var changes []Change
	for _, raw := range missing {
		w := decode(raw)
		k := keyOf(w)
		if len(got[k]) == 0 {
			restMissing = append(restMissing, raw)
			continue
		}
		i := got[k][0]
		got[k] = got[k][1:]
		used[i] = true
		g := decode(unexpected[i])
		ch := Change{}
		keyVals := map[string]json.RawMessage{}
		for _, col := range key {
			keyVals[col] = w[col]
		}
		ch.Key = orderedJSON(key, keyVals)
		for _, col := range cols {
			if !slices.Contains(key, col) && pg.JSONValue(w[col]) != pg.JSONValue(g[col]) {
				ch.Columns = append(ch.Columns, ColumnChange{Column: col, Want: w[col], Got: g[col]})
			}
		}
		changes = append(changes, ch)
	}
	var restUnexpected []json.RawMessage
	for i, raw := range unexpected {
		if !used[i] {
			restUnexpected = append(restUnexpected, raw)
		}
	}
	return restMissing, restUnexpected, changes
}

// orderedJSON writes the columns of v in the order cols gives.
func orderedJSON(cols []string, v map[string]json.RawMessage) json.RawMessage {
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(c)
		b.Write(k)
		b.WriteString(": ")
		if v[c] == nil {
			b.WriteString("null")
		} else {
			b.Write(v[c])
		}
	}
	b.WriteByte('}')
	return json.RawMessage(b.String())
}
