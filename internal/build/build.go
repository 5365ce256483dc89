// Package build materializes a project's models in dependency order, runs
// their checks on the new relations, and only then publishes them in one
// short swap: readers see the old relations or the new, never a half, and a
// failing check leaves the old ones untouched.
package build

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/pg"
)

// nextSuffix names the relation a model is built into before the swap.
const nextSuffix = "__next"

// Built is one model's outcome.
type Built struct {
	Model    *dag.Model
	Rows     int64 // rows of a table; -1 for a view
	Duration time.Duration
	Reason   string
}

// ModelError is a model that the database refused, with the line of the
// model file the database pointed at.
type ModelError struct {
	Path string
	Line int
	Err  error
}

func (e *ModelError) Error() string {
	// The database speaks of the relations the build reads, NAME__next;
	// the person reads the models by their names.
	msg := strings.ReplaceAll(pg.Describe(e.Err), nextSuffix, "")
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, msg)
}

func (e *ModelError) Unwrap() error { return e.Err }

// ErrChecks is wrapped by the error of a build whose error-severity checks
// failed: nothing was published.
var ErrChecks = errors.New("checks failed")

// Result is what a build did.
type Result struct {
	Plan   *Plan
	Built  []Built
	Checks []CheckResult
	// Checking and Publishing are how long the checks and the swap took.
	Checking, Publishing time.Duration
}

// Event tells what a build is doing, for a progress display. Models built
// side by side tell from several goroutines at once.
type Event struct {
	Kind  EventKind
	Model string        // ModelStarted, ModelBuilt
	Rows  int64         // ModelBuilt: its rows, -1 for a view
	Took  time.Duration // ModelBuilt
	// Models is how many models the build builds.
	Models int
}

// EventKind is what an Event tells.
type EventKind int

// Event kinds, in the order a build goes through them.
const (
	ModelStarted EventKind = iota
	ModelBuilt
	Checking   // the checks of the publish transaction start
	Publishing // the swap starts
	Published  // the publish committed: readers see the new relations
	Comparing  // a diff compares the new relations with the live ones
)

// tell sends e to the build's OnEvent, if any.
func (o *Options) tell(plan *Plan, e Event) {
	if o.OnEvent != nil {
		e.Models = plan.Builds()
		o.OnEvent(e)
	}
}

// Run plans the build of g, builds what the plan says into new relations,
// checks them and publishes them. Models built whole go first, on several
// connections at once, each committed as NAME__next with its checks run
// (readers never look there); then one transaction replaces the days of
// incremental models, runs their checks and, when every check passed,
// swaps the new relations in. A failure publishes nothing and leaves no
// __next relation behind. Builds and check results go to the ledger under
// runID.
func Run(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, runID int64, opt Options) (*Result, error) {
	plan, err := NewPlan(ctx, pool, g, opt)
	if err != nil {
		return nil, err
	}
	res := &Result{Plan: plan}
	gone, err := GoneFunctions(ctx, pool, g, opt.Functions)
	if err != nil {
		return nil, err
	}
	if err := syncUses(ctx, pool, g); err != nil {
		return nil, err
	}
	if plan.Builds() == 0 && plan.Rechecks() == 0 {
		// Nothing to build or check; a description edited alone still shows.
		if err := comment(ctx, pool, g); err != nil {
			return res, fmt.Errorf("comment the models: %w", err)
		}
		return res, dropGoneAlone(ctx, pool, plan, gone)
	}
	whole := wholes{}
	for _, s := range plan.Steps {
		whole[s.Name] = s.Build && s.Full
	}
	if err := sweep(ctx, pool, plan, g); err != nil {
		return nil, fmt.Errorf("drop what an earlier build left: %w", err)
	}
	if err := plan.Engine.Freshen(ctx, pool, builtTables(plan)); err != nil {
		return nil, fmt.Errorf("analyze the sources: %w", err)
	}
	j := &job{pool: pool, g: g, plan: plan, runID: runID, opt: &opt, whole: whole, early: earlySteps(g, plan), gone: gone}
	built, err := j.buildEarly(ctx)
	if err == nil {
		err = j.publish(ctx, built, res)
		if err == nil {
			opt.tell(plan, Event{Kind: Published})
		}
	}
	if err != nil {
		// What was committed beside the live relations goes again.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if derr := dropNext(cctx, pool, g, built); derr != nil {
			err = errors.Join(err, fmt.Errorf("drop the unpublished relations: %w", derr))
		}
		if errors.Is(err, ErrChecks) {
			return res, err
		}
		return nil, err
	}
	return res, nil
}

// begin starts a build transaction, with the engine's settings for a
// build (warehouse.Engine.SetBuild), as the models' role.
func begin(ctx context.Context, pool *pgxpool.Pool, plan *Plan) (pgx.Tx, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if err := plan.Engine.SetBuild(ctx, tx); err != nil {
		tx.Rollback(context.Background())
		return nil, err
	}
	// A model reads and writes only what is its own (docs/security.md).
	if err := pg.AsModels(ctx, tx); err != nil {
		tx.Rollback(context.Background())
		return nil, err
	}
	return tx, nil
}

// job is the state of one build (Run) that its steps share.
type job struct {
	pool  *pgxpool.Pool
	g     *dag.Graph
	plan  *Plan
	runID int64
	opt   *Options
	whole wholes
	early map[string]bool // the steps built before the publish transaction
	gone  []string        // the functions the publish drops (GoneFunctions)
}

// wholes are the models a build builds whole, beside their live relations,
// as NAME__next: while it runs, their SQL and checks read each other there.
type wholes map[string]bool

// rename is what the build reads rel as, and whether that is a new
// relation: the rename dag.Rewrite wants.
func (w wholes) rename(rel string) (string, bool) {
	if w[rel] {
		return rel + nextSuffix, true
	}
	return rel, false
}

// name is rename without the flag.
func (w wholes) name(rel string) string {
	n, _ := w.rename(rel)
	return n
}

// Compile returns the SQL that builds m whole when the models in building
// are rebuilt in the same run: their names point at their new relations,
// and a table's interval bounds are open constants (see Bind).
func Compile(m *dag.Model, building map[string]bool) (string, error) {
	sql, err := dag.Rewrite(m.Body(), wholes(building).rename)
	if err != nil || m.Config.Materialized == dag.View {
		return sql, err // a view reads the interval functions when it is queried
	}
	return Bind(sql, "", ""), nil
}

// materialize builds m into its __next relation: a table with CREATE TABLE
// AS, a view with CREATE VIEW.
func materialize(ctx context.Context, tx pgx.Tx, plan *Plan, m *dag.Model, whole wholes) (int64, error) {
	sql, err := dag.Rewrite(m.Body(), whole.rename)
	if err != nil {
		return 0, &ModelError{Path: m.Path, Err: err}
	}
	next := pg.Ident(m.Schema, m.Rel+nextSuffix)
	// A killed build may have left a __next relation, of whatever kind the
	// model had then, and views of it.
	if err := dropRelation(ctx, tx, m.Schema, m.Rel+nextSuffix, true); err != nil {
		return 0, fmt.Errorf("%s: drop a leftover %s: %w", m.Path, next, err)
	}
	if m.Config.Materialized == dag.View {
		prefix := "CREATE VIEW " + next + " AS\n"
		if _, err := tx.Exec(ctx, prefix+sql+"\n"); err != nil {
			return 0, ErrorAt(m, err, prefix, sql)
		}
		return -1, nil
	}
	// A whole build's interval is open: the bounds go in as constants, not
	// read from a setting for every row (see bind).
	sql = plan.bind(sql, "", "")
	var rows int64
	if plan.Engine.IsCitus() {
		if rows, err = fill(ctx, tx, plan, m, next, sql); err != nil {
			return 0, err
		}
	} else {
		// One statement: PostgreSQL plans CREATE TABLE AS in parallel where
		// it pays (INSERT … SELECT never is, in version 15).
		prefix := "CREATE TABLE " + next + " AS\n"
		tag, err := tx.Exec(ctx, prefix+sql+"\n")
		if err != nil {
			return 0, ErrorAt(m, err, prefix, sql)
		}
		if err := index(ctx, tx, plan, m, m.Rel+nextSuffix); err != nil {
			return 0, err
		}
		rows = tag.RowsAffected()
	}
	if err := plan.Engine.AnalyzeBuilt(ctx, tx, next); err != nil {
		return 0, fmt.Errorf("%s: %w", m.Path, err)
	}
	return rows, nil
}

// replaceDays rebuilds an incremental model's days in place: for each run
// of consecutive days, the interval is set for the model's SQL
// (percolate.interval_start() and interval_end()), its rows are deleted and
// inserted again. Readers see the old rows until the run commits.
func replaceDays(ctx context.Context, tx pgx.Tx, plan *Plan, s *Step, whole wholes) (int64, error) {
	m := s.Model
	model, err := dag.Rewrite(m.Body(), whole.rename)
	if err != nil {
		return 0, &ModelError{Path: m.Path, Err: err}
	}
	rel, tc := pg.Ident(m.Schema, m.Rel), pg.Ident(m.Config.TimeColumn)
	if plan.Engine.IsCitus() {
		if _, err := tx.Exec(ctx, "LOCK TABLE "+rel+" IN ACCESS EXCLUSIVE MODE"); err != nil { // see citus.go
			return 0, err
		}
	}
	var rows int64
	spans := ranges(s.Days)
	// Days are merged by key where the engine keeps the key.
	var cols []string
	merge := m.Config.Key != nil && !plan.Engine.IsCitus()
	if merge {
		spans = chunks(spans, mergeDaysAtOnce)
		var err error
		if cols, err = columnNames(ctx, tx, m); err != nil {
			return 0, err
		}
	}
	for _, r := range spans {
		sql := plan.bind(model, r[0], r[1])
		if err := setInterval(ctx, tx, r[0], r[1]); err != nil {
			return 0, err
		}
		if merge {
			n, err := mergeDays(ctx, tx, m, cols, sql, r)
			if err != nil {
				return 0, err
			}
			rows += n
			continue
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s >= $1 AND %s < $2", rel, tc, tc), r[0], r[1]); err != nil {
			return 0, &ModelError{Path: m.Path, Err: err}
		}
		prefix := "INSERT INTO " + rel + " SELECT * FROM (\n"
		tag, err := tx.Exec(ctx, prefix+sql+fmt.Sprintf("\n) AS m WHERE m.%s >= '%s' AND m.%s < '%s'", tc, r[0], tc, r[1]))
		if err != nil {
			if isUniqueViolation(err) {
				return 0, keyError(m, err)
			}
			return 0, ErrorAt(m, err, prefix, sql)
		}
		rows += tag.RowsAffected()
	}
	if err := setInterval(ctx, tx, "", ""); err != nil {
		return 0, err
	}
	return rows, nil
}

// setInterval sets the bounds the interval functions read, for the rest
// of the transaction, with SET LOCAL: the models' role may not call
// set_config (a model could set role with it; docs/security.md).
func setInterval(ctx context.Context, q ledger.Querier, start, end string) error {
	lit := func(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }
	_, err := q.Exec(ctx, "SET LOCAL percolate.interval_start = "+lit(start)+"; SET LOCAL percolate.interval_end = "+lit(end))
	return err
}

// ranges groups sorted days into half-open runs of consecutive days.
func ranges(days []string) [][2]string {
	var out [][2]string
	for _, d := range days {
		t, _ := time.Parse(time.DateOnly, d)
		next := t.AddDate(0, 0, 1).Format(time.DateOnly)
		if n := len(out); n > 0 && out[n-1][1] == d {
			out[n-1][1] = next
			continue
		}
		out = append(out, [2]string{d, next})
	}
	return out
}

// ErrorAt maps the database's error position (in characters, in the
// statement as sent) back to a line of the model file. The SQL sent keeps
// the file's lines: only relation names are rewritten.
func ErrorAt(m *dag.Model, err error, prefix, sent string) error {
	// The SQL sent starts at the model's first non-blank character.
	leading := len(m.SQL) - len(strings.TrimLeft(m.SQL, " \t\r\n"))
	var pgErr *pgconn.PgError
	line := 0
	if errors.As(err, &pgErr) && pgErr.Position > 0 {
		runes := int(pgErr.Position) - 1 - utf8.RuneCountInString(prefix)
		if runes >= 0 {
			i := 0
			for n := 0; n < runes && i < len(sent); n++ {
				_, size := utf8.DecodeRuneInString(sent[i:])
				i += size
			}
			line = strings.Count(m.SQL[:leading], "\n") + strings.Count(sent[:i], "\n") + 1
		}
	}
	return &ModelError{Path: m.Path, Line: line, Err: err}
}
