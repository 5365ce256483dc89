package build

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/ledger"
	"github.com/percolate/percolate/internal/migrate"
	"github.com/percolate/percolate/internal/pg"
)

// envComment marks a schema as an environment's (COMMENT ON SCHEMA): a
// live publish drops the environment's views over a table it replaces
// (see dropEnvReaders), and only those, found by the catalog alone.
const envComment = "percolate environment"

var envNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,19}$`)

// EnvSchema is the schema environment env builds schema's models in.
func EnvSchema(schema, env string) string { return schema + "__" + env }

// CheckEnv says whether env names an environment of g: a lower-case
// identifier of at most 20 characters whose schemas (marts__dev) are none
// of the graph's own and whose name is not the build's own suffix.
func CheckEnv(g *dag.Graph, env string) error {
	if !envNameRE.MatchString(env) || strings.Contains(env, "__") || strings.HasSuffix(env, "_") {
		return fmt.Errorf("environment %q: want a lower-case letter, then up to 19 letters, digits or single underscores", env)
	}
	if "__"+env == nextSuffix {
		return fmt.Errorf("environment %q: the name is the build's own suffix (%s)", env, nextSuffix)
	}
	for _, m := range g.Models {
		for _, o := range g.Models {
			if EnvSchema(m.Schema, env) == o.Schema {
				return fmt.Errorf("environment %q: schema %s is the project's own (%s)", env, o.Schema, o.Name)
			}
		}
	}
	return nil
}

// EnvStep is what an environment run does with one model.
type EnvStep struct {
	Model *dag.Model `json:"-"`
	Name  string     `json:"model"`
	// Kind is "table" or "view" (built from the model's SQL in the
	// environment) or "live" (a view over the live relation).
	Kind   string `json:"kind"`
	Build  bool   `json:"build"`
	Reason string `json:"reason"`
}

// EnvPlan is what `run --env` would do: every model of the graph, in
// order. The selection (by default state:modified+, versions against the
// live ledger's last builds) is built in the environment; the rest are
// views over live. A selected table whose version the environment already
// holds is not built again (unless FullRefresh).
func EnvPlan(ctx context.Context, q ledger.Querier, g *dag.Graph, env string, opt Options) ([]*EnvStep, error) {
	if err := CheckEnv(g, env); err != nil {
		return nil, err
	}
	if len(opt.Select) == 0 {
		opt.Select = []string{"state:modified+"}
	}
	selected, err := Selected(ctx, q, g, opt)
	if err != nil {
		return nil, err
	}
	var book ledger.Store
	held, err := book.EnvBuilds(ctx, q, env)
	if err != nil {
		return nil, fmt.Errorf("read environment %s: %w", env, err)
	}
	var steps []*EnvStep
	for _, m := range g.Models {
		s := &EnvStep{Model: m, Name: m.Name, Kind: "live", Reason: "unchanged: a view over the live relation"}
		switch {
		case m.Config.Materialized == dag.Snapshot && slices.Contains(selected, m):
			// Its rows are a history only live runs record: rebuilt here it
			// would be one version of each row.
			s.Reason = "a snapshot: its history is live's, viewed as it is"
		case slices.Contains(selected, m):
			s.Kind, s.Build, s.Reason = "table", true, "changed from live (or downstream of a change)"
			if m.Config.Materialized == dag.View {
				s.Kind = "view"
			}
			if b, ok := held[m.Name]; ok && b.Version == m.Version && b.Kind == s.Kind && s.Kind == "table" && !opt.FullRefresh {
				s.Build, s.Reason = false, "built in the environment at this version already"
			}
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// EnvResult is what an environment run did.
type EnvResult struct {
	Steps  []*EnvStep
	Checks []CheckResult
}

// EnvRun builds environment env: the steps EnvPlan makes, into
// schema__env, reading live relations for everything unchanged, then the
// checks of the models built there. It never writes a live relation nor
// the ledger's live state; its record is percolate.env_builds. Sources are
// not loaded: the environment reads live staging. An incremental model is
// built whole there, over every day staging holds. Failing error checks
// return ErrChecks after the environment is committed: it is there to be
// looked at.
func EnvRun(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, env string, opt Options) (*EnvResult, error) {
	steps, err := EnvPlan(ctx, pool, g, env, opt)
	if err != nil {
		return nil, err
	}
	engine, err := opt.engine(ctx, pool)
	if err != nil {
		return nil, err
	}
	var schemas []string
	for _, m := range g.Models {
		if s := EnvSchema(m.Schema, env); !slices.Contains(schemas, s) {
			schemas = append(schemas, s)
		}
	}
	if err := migrate.EnsureSchemas(ctx, pool, nil, schemas); err != nil {
		return nil, err
	}
	for _, s := range schemas {
		if _, err := pool.Exec(ctx, fmt.Sprintf("COMMENT ON SCHEMA %s IS '%s %s'", pg.Ident(s), envComment, env)); err != nil {
			return nil, fmt.Errorf("mark schema %s: %w", s, pg.Explain(err))
		}
	}
	plan := &Plan{graph: g, Engine: engine}
	inEnv := map[string]bool{} // models read from the environment
	for _, s := range steps {
		if s.Kind != "live" {
			inEnv[s.Name] = true
			plan.Steps = append(plan.Steps, &Step{Model: s.Model, Name: s.Name, Build: true, Full: true})
		}
	}
	rename := func(rel string) (string, bool) {
		if !inEnv[rel] {
			return rel, false
		}
		schema, name, _ := strings.Cut(rel, ".")
		return EnvSchema(schema, env) + "." + name, true
	}
	tx, err := begin(ctx, pool, plan)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	res := &EnvResult{Steps: steps}
	var record []ledger.EnvBuild
	for _, s := range steps {
		if err := envStep(ctx, tx, plan, s, env, rename, &opt); err != nil {
			return nil, err
		}
		record = append(record, ledger.EnvBuild{Model: s.Name, Schema: EnvSchema(s.Model.Schema, env), Version: s.Model.Version, Kind: s.Kind})
	}
	opt.tell(plan, Event{Kind: Checking})
	name := func(rel string) string { n, _ := rename(rel); return n }
	if res.Checks, err = runChecks(ctx, tx, plan, name); err != nil {
		return nil, err
	}
	var book ledger.Store
	if err := asConnected(ctx, tx, func() error { return book.RecordEnv(ctx, tx, env, record) }); err != nil {
		return nil, fmt.Errorf("record environment %s: %w", env, err)
	}
	if err := pg.Commit(ctx, tx); err != nil {
		return nil, err
	}
	if failed := Failed(res.Checks); len(failed) > 0 {
		return res, fmt.Errorf("%w: %s", ErrChecks, describeFailures(failed))
	}
	return res, nil
}

// envStep makes one model's relation in the environment. A view is made
// again every time (cheap, and a table rebuilt under it drops it); a
// table already at its version stays.
func envStep(ctx context.Context, tx pgx.Tx, plan *Plan, s *EnvStep, env string, rename func(string) (string, bool), opt *Options) error {
	m := s.Model
	schema := EnvSchema(m.Schema, env)
	rel := pg.Ident(schema, m.Rel)
	if !s.Build && s.Kind == "table" {
		var there bool
		if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", rel).Scan(&there); err != nil || there {
			return err
		}
		s.Build, s.Reason = true, "its table in the environment is gone"
	}
	if err := dropRelation(ctx, tx, schema, m.Rel, true); err != nil {
		return err
	}
	if s.Kind == "live" {
		_, err := tx.Exec(ctx, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM %s", rel, pg.Ident(m.Schema, m.Rel)))
		if err != nil {
			return fmt.Errorf("environment %s: view over %s: %w", env, m.Name, pg.Explain(err))
		}
		return nil
	}
	opt.tell(plan, Event{Kind: ModelStarted, Model: m.Name})
	sql, err := dag.Rewrite(m.Body(), rename)
	if err != nil {
		return &ModelError{Path: m.Path, Err: err}
	}
	prefix := "CREATE VIEW " + rel + " AS\n"
	if s.Kind == "table" {
		// Whole, over every day live staging holds: the interval is open.
		sql, prefix = plan.bind(sql, "", ""), "CREATE TABLE "+rel+" AS\n"
	}
	tag, err := tx.Exec(ctx, prefix+sql+"\n")
	if err != nil {
		return ErrorAt(m, err, prefix, sql)
	}
	rows := tag.RowsAffected()
	if s.Kind == "view" {
		rows = -1
	}
	opt.tell(plan, Event{Kind: ModelBuilt, Model: m.Name, Rows: rows})
	return nil
}
