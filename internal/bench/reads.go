package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/percolate/percolate/internal/pg"
	"github.com/percolate/percolate/internal/project"
)

// KeyedSchema is where the read benchmark puts its keyed copies of the
// core, in the benchmark's own database.
const KeyedSchema = "keyed"

// ReadsOptions say what the read benchmark loads and runs.
type ReadsOptions struct {
	Queries *QuerySet
	Runs    int // timed runs of each query on each side; the median is reported
	// Sources, when set, are backfilled from From to To instead of the
	// generated year (a glob by source name, as `run --source` takes).
	Sources  map[string]string
	From, To time.Time
}

// ReadsResult is what the read benchmark found.
type ReadsResult struct {
	Database  string     // the benchmark's database, kept for a look afterwards
	Loaded    int64      // rows the backfill loaded
	Relations []Relation // the core's relations the queries read, as built
	Build     time.Duration
	Queries   []QueryResult
	// Timing is the queries' runs, all of them: wall and CPU time.
	Timing Timing
}

// Relation is one relation of the core and what it is built as.
type Relation struct {
	Name, Kind string // Kind: table, view, materialized view, …
}

// QueryResult is one query on both sides.
type QueryResult struct {
	Query       Query
	Core, Keyed Side
}

// Same says whether the query returned the same rows on both sides.
func (q QueryResult) Same() bool { return slices.Equal(q.Core.Rows, q.Keyed.Rows) }

// Ratio is the core's median server time over the keyed side's.
func (q QueryResult) Ratio() float64 {
	return q.Core.Median().Seconds() / max(q.Keyed.Median().Seconds(), 1e-9)
}

// Side is one query run on one side.
type Side struct {
	// Times are each run's server time: planning and execution, as
	// EXPLAIN (ANALYZE) reports them.
	Times []time.Duration
	// Rows are the query's rows in PostgreSQL's text form, a row's values
	// parted by a tab, sorted.
	Rows []string
	// Schemas are the schemas of what its plan scanned (relations and
	// functions).
	Schemas []string
}

// Median is the side's median server time.
func (s Side) Median() time.Duration {
	t := slices.Clone(s.Times)
	slices.Sort(t)
	return t[len(t)/2]
}

// Reads loads a year (or r's sources) into a fresh database with
// `percolate backfill`, copies the core's declared relations into plain
// tables with their keys and indexes in schema keyed, vacuums and analyzes
// the database, then runs each query of the set on both sides: once to
// compare their rows, then r.Runs times each, alternating, timed by the
// server. It prints a table of the medians and fails when a query's rows
// differ between the sides.
func Reads(ctx context.Context, opt Options, r ReadsOptions) (*ReadsResult, error) {
	if r.Queries == nil || r.Runs < 1 {
		return nil, errors.New("want a query set and at least one run")
	}
	res := &ReadsResult{Database: "bench_reads"}
	dbURL, err := loadReads(ctx, opt, r, res)
	if err != nil {
		return nil, fmt.Errorf("bench reads: %w", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("bench reads: %w", err)
	}
	defer conn.Close(ctx)
	if res.Relations, err = describe(ctx, conn, r.Queries); err != nil {
		return nil, fmt.Errorf("bench reads: %w", err)
	}
	start := time.Now()
	if err := buildKeyed(ctx, conn, r.Queries); err != nil {
		return nil, fmt.Errorf("bench reads: %w", err)
	}
	res.Build = time.Since(start)
	pm, err := settle(ctx, opt.URL)
	if err != nil {
		return nil, fmt.Errorf("bench reads: %w", err)
	}
	values, err := readParams(ctx, conn, r.Queries)
	if err != nil {
		return nil, fmt.Errorf("bench reads: %w", err)
	}
	// The machine meanwhile: on a shared one, what its other tenants took.
	self0, server0, busy0, start := selfCPU(), serverCPU(pm), machineBusy(), time.Now()
	for _, q := range r.Queries.Queries {
		qr, err := runQuery(ctx, conn, r.Queries.Schema, q, bind(q.SQL, values), r.Runs)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: query %q: %w", r.Queries.Path, q.Line, q.Name, err)
		}
		res.Queries = append(res.Queries, qr)
	}
	res.Timing = Timing{Wall: time.Since(start), ClientCPU: selfCPU() - self0, ServerCPU: serverCPU(pm) - server0, MachineCPU: machineBusy() - busy0, WAL: -1}
	res.print(opt.Out, r.Queries, r.Runs, values)
	var differ []string
	for _, q := range res.Queries {
		if !q.Same() {
			differ = append(differ, fmt.Sprintf("%q (%d rows on %s, %d keyed)", q.Query.Name, len(q.Core.Rows), r.Queries.Schema, len(q.Keyed.Rows)))
		}
	}
	if differ != nil {
		return res, fmt.Errorf("rows differ between %s and its keyed copies: %s", r.Queries.Schema, strings.Join(differ, ", "))
	}
	return res, nil
}

// loadReads backfills the year, or r's sources, into res's database,
// made afresh, and returns its URL.
func loadReads(ctx context.Context, opt Options, r ReadsOptions, res *ReadsResult) (string, error) {
	if r.Sources == nil {
		dir := filepath.Join(opt.DataDir, "year")
		if _, err := yearFiles(dir); err != nil {
			return "", err
		}
		r.Sources, r.From, r.To = yearSources(dir), yearShape.From, yearShape.To
	}
	pool, done, err := emptyDB(ctx, opt.URL, res.Database)
	if err != nil {
		return "", err
	}
	defer done()
	rep, err := opt.Project.Backfill(ctx, pool, project.BackfillOptions{From: r.From, To: r.To,
		RunOptions: project.RunOptions{Jobs: opt.Jobs, Sources: r.Sources}})
	if err != nil {
		return "", fmt.Errorf("backfill: %w", err)
	}
	res.Loaded = orders(rep.Runs)
	return pool.Config().ConnString(), nil
}

// describe says what each relation to copy is built as, and fails on one
// the core does not have.
func describe(ctx context.Context, conn *pgx.Conn, s *QuerySet) ([]Relation, error) {
	var out []Relation
	for _, k := range s.Keyed {
		var kind string
		err := conn.QueryRow(ctx, `SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
			    WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END
			FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
			s.Schema, k.Relation).Scan(&kind)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("%s:%d: keyed: %s.%s: no such relation", s.Path, k.Line, s.Schema, k.Relation)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, Relation{Name: s.Schema + "." + k.Relation, Kind: kind})
	}
	return out, nil
}

// buildKeyed copies the declared relations of the core into plain tables
// in KeyedSchema, adds their keys and indexes, then vacuums and analyzes
// the whole database: both sides as autovacuum leaves them, with
// statistics and visibility maps.
func buildKeyed(ctx context.Context, conn *pgx.Conn, s *QuerySet) error {
	ks := pg.Ident(KeyedSchema)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+ks+" CASCADE; CREATE SCHEMA "+ks); err != nil {
		return fmt.Errorf("keyed schema: %w", err)
	}
	cols := func(c []string) string {
		q := make([]string, len(c))
		for i, n := range c {
			q[i] = pg.Ident(n)
		}
		return strings.Join(q, ", ")
	}
	for _, k := range s.Keyed {
		to := pg.Ident(KeyedSchema, k.Relation)
		from := s.Schema + "." + k.Relation
		if _, err := conn.Exec(ctx, "CREATE TABLE "+to+" AS SELECT * FROM "+pg.Ident(s.Schema, k.Relation)); err != nil {
			return fmt.Errorf("%s:%d: keyed copy of %s: %w", s.Path, k.Line, from, err)
		}
		if _, err := conn.Exec(ctx, "ALTER TABLE "+to+" ADD PRIMARY KEY ("+cols(k.Columns)+")"); err != nil {
			return fmt.Errorf("%s:%d: key of %s (%s): %w%s", s.Path, k.Line, from, strings.Join(k.Columns, ", "), err, detail(err))
		}
	}
	for _, ix := range s.Indexes {
		on := pg.Ident(KeyedSchema, ix.Relation)
		if _, err := conn.Exec(ctx, "CREATE INDEX ON "+on+" ("+cols(ix.Columns)+")"); err != nil {
			return fmt.Errorf("%s:%d: index on %s (%s): %w", s.Path, ix.Line, ix.Relation, strings.Join(ix.Columns, ", "), err)
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("vacuum: %w", err)
	}
	return nil
}

// detail is what the server said beyond its message, such as the key
// that is not unique.
func detail(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Detail != "" {
		return ": " + pgErr.Detail
	}
	return ""
}

// readParams reads each param on the keyed side, where it is cheap.
func readParams(ctx context.Context, conn *pgx.Conn, s *QuerySet) (map[string]string, error) {
	values := map[string]string{}
	if err := searchPath(ctx, conn, KeyedSchema); err != nil {
		return nil, err
	}
	for _, p := range s.Params {
		rows, err := textRows(ctx, conn, bind(p.SQL, values))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: param %s: %w", s.Path, p.Line, p.Name, err)
		}
		if len(rows) != 1 || rows[0] == nullText || strings.Contains(rows[0], "\t") {
			return nil, fmt.Errorf("%s:%d: param %s: want one value, got %d row(s): %q", s.Path, p.Line, p.Name, len(rows), rows)
		}
		values[p.Name] = rows[0]
	}
	return values, nil
}

func searchPath(ctx context.Context, conn *pgx.Conn, schema string) error {
	_, err := conn.Exec(ctx, "SELECT set_config('search_path', $1, false)", pg.Ident(schema))
	return err
}

// nullText stands for NULL in a row's text form.
const nullText = `\N`

// textRows runs sql and returns its rows in PostgreSQL's text form (the
// simple protocol's), each row's values parted by a tab, sorted.
func textRows(ctx context.Context, conn *pgx.Conn, sql string) ([]string, error) {
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	var b strings.Builder
	for rows.Next() {
		b.Reset()
		for i, v := range rows.RawValues() {
			if i > 0 {
				b.WriteByte('\t')
			}
			if v == nil {
				b.WriteString(nullText)
				continue
			}
			b.Write(v)
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// runQuery runs q on the core and on the keyed side: once for the rows,
// then runs times each, alternating, under EXPLAIN (ANALYZE).
func runQuery(ctx context.Context, conn *pgx.Conn, core string, q Query, sql string, runs int) (QueryResult, error) {
	res := QueryResult{Query: q}
	sides := []struct {
		schema string
		side   *Side
	}{{core, &res.Core}, {KeyedSchema, &res.Keyed}}
	for _, s := range sides {
		if err := searchPath(ctx, conn, s.schema); err != nil {
			return res, err
		}
		rows, err := textRows(ctx, conn, sql)
		if err != nil {
			return res, fmt.Errorf("on %s: %w", s.schema, err)
		}
		s.side.Rows = rows
	}
	for range runs {
		for _, s := range sides {
			if err := searchPath(ctx, conn, s.schema); err != nil {
				return res, err
			}
			t, schemas, err := explain(ctx, conn, sql)
			if err != nil {
				return res, fmt.Errorf("on %s: %w", s.schema, err)
			}
			s.side.Times = append(s.side.Times, t)
			s.side.Schemas = schemas
		}
	}
	return res, nil
}

// explain runs sql under EXPLAIN (ANALYZE) and returns its server time,
// planning and execution, and the schemas of the relations it scanned.
// TIMING OFF: the plan's nodes are not timed, which would slow the many
// small steps of a nested loop and the core's unnesting.
func explain(ctx context.Context, conn *pgx.Conn, sql string) (time.Duration, []string, error) {
	var out string
	if err := conn.QueryRow(ctx, "EXPLAIN (ANALYZE, VERBOSE, TIMING OFF, FORMAT JSON) "+sql, pgx.QueryExecModeSimpleProtocol).Scan(&out); err != nil {
		return 0, nil, err
	}
	var plans []struct {
		Plan      planNode
		Planning  float64 `json:"Planning Time"`
		Execution float64 `json:"Execution Time"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil || len(plans) != 1 {
		return 0, nil, fmt.Errorf("explain: %d plans, %v", len(plans), err)
	}
	schemas := map[string]bool{}
	plans[0].Plan.schemas(schemas)
	var list []string
	for s := range schemas {
		list = append(list, s)
	}
	slices.Sort(list)
	ms := plans[0].Planning + plans[0].Execution
	return time.Duration(ms * float64(time.Millisecond)), list, nil
}

// planNode is what explain reads of a plan's node.
type planNode struct {
	Schema string     `json:"Schema"`
	Plans  []planNode `json:"Plans"`
}

func (n planNode) schemas(into map[string]bool) {
	if n.Schema != "" {
		into[n.Schema] = true
	}
	for _, c := range n.Plans {
		c.schemas(into)
	}
}

// print writes the result as a table, in Markdown.
func (r *ReadsResult) print(w io.Writer, s *QuerySet, runs int, values map[string]string) {
	var built []string
	for _, rel := range r.Relations {
		built = append(built, rel.Name+" "+rel.Kind)
	}
	fmt.Fprintf(w, "reads: %d rows loaded by a backfill into database %s; the core as built: %s\n", r.Loaded, r.Database, strings.Join(built, ", "))
	fmt.Fprintf(w, "  keyed copies in schema %s: %d tables with their primary keys and %d more indexes, then VACUUM (ANALYZE) of the database: %s\n",
		KeyedSchema, len(s.Keyed), len(s.Indexes), secs(r.Build))
	var ps []string
	for _, p := range s.Params {
		ps = append(ps, p.Name+" = "+values[p.Name])
	}
	if ps != nil {
		fmt.Fprintf(w, "  params: %s\n", strings.Join(ps, ", "))
	}
	fmt.Fprintf(w, "  server time: planning + execution, EXPLAIN (ANALYZE, TIMING OFF); medians of %d, alternating; every query's rows compared on both sides\n\n", runs)
	width := len("query")
	for _, q := range r.Queries {
		width = max(width, len(q.Query.Name))
	}
	fmt.Fprintf(w, "| %-*s | %10s | %10s | %8s | %7s | %s |\n", width, "query", s.Schema, KeyedSchema, "ratio", "rows", "notes")
	fmt.Fprintf(w, "|%s|%s:|%s:|%s:|%s:|%s|\n", strings.Repeat("-", width+2), strings.Repeat("-", 11), strings.Repeat("-", 11), strings.Repeat("-", 9), strings.Repeat("-", 8), strings.Repeat("-", 7))
	within, worst := 0, -1
	for i, q := range r.Queries {
		var notes []string
		if !q.Same() {
			notes = append(notes, fmt.Sprintf("ROWS DIFFER (%d keyed)", len(q.Keyed.Rows)))
		}
		if t := q.Query.Target; t > 0 {
			verdict := "met"
			if q.Core.Median() > t {
				verdict = "MISSED"
			}
			notes = append(notes, fmt.Sprintf("target %s: %s", t, verdict))
		}
		if s.Within > 0 && q.Ratio() > s.Within {
			notes = append(notes, fmt.Sprintf("over %.1f×", s.Within))
		} else {
			within++
		}
		if worst < 0 || q.Ratio() > r.Queries[worst].Ratio() {
			worst = i
		}
		fmt.Fprintf(w, "| %-*s | %10s | %10s | %7.1f× | %7d | %s |\n", width, q.Query.Name, ms(q.Core.Median()), ms(q.Keyed.Median()),
			q.Ratio(), len(q.Core.Rows), strings.Join(notes, "; "))
	}
	fmt.Fprintln(w)
	t := r.Timing
	fmt.Fprintf(w, "  the queries' runs took %s on %d cores: %s (other: a shared machine's other tenants)\n", secs(t.Wall), runtime.NumCPU(), cpuLine(t))
	if s.Within > 0 && worst >= 0 {
		fmt.Fprintf(w, "  within %.1f× of the keyed side: %d of %d queries; the worst %q at %.1f×\n", s.Within, within, len(r.Queries), r.Queries[worst].Query.Name, r.Queries[worst].Ratio())
	}
}

// ms writes a server time to a precision that reads at a glance.
func ms(d time.Duration) string {
	switch m := d.Seconds() * 1000; {
	case m < 10:
		return fmt.Sprintf("%.2f ms", m)
	case m < 1000:
		return fmt.Sprintf("%.1f ms", m)
	default:
		return fmt.Sprintf("%.2f s", m/1000)
	}
}
