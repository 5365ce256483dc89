package build

import (
	"context"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/pg"
)

// earlyBuild is a model built whole before the publish transaction:
// committed as NAME__next, with its checks' results.
type earlyBuild struct {
	built    Built
	checks   []CheckResult
	checking time.Duration
}

// earlySteps are the steps that can be built before the publish
// transaction, in parallel: those built whole whose every ancestor that
// this build changes is built whole before them too. A model reading an
// incremental model whose days this build replaces must wait for the
// publish transaction, where the days are replaced.
func earlySteps(g *dag.Graph, plan *Plan) map[string]bool {
	building := map[string]*Step{}
	for _, s := range plan.Steps {
		if s.Build {
			building[s.Name] = s
		}
	}
	early := map[string]bool{}
	for _, s := range plan.Steps { // in dependency order: parents first
		if !s.Build || !s.Full {
			continue
		}
		ok := true
		for _, a := range g.Ancestors(s.Model) {
			if building[a] != nil && !early[a] {
				ok = false
			}
		}
		early[s.Name] = ok
	}
	return early
}

// buildEarly builds the early steps on up to workers connections at once
// (0: one per core), each as soon as the early steps it reads are
// committed, and runs each one's checks right after it. It returns what it
// built, also on error, so that the caller can drop it.
func buildEarly(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, plan *Plan, early map[string]bool, whole wholes, opt *Options) (map[string]*earlyBuild, error) {
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := map[string]chan struct{}{}
	for name := range early {
		if early[name] {
			done[name] = make(chan struct{})
		}
	}
	slots := make(chan struct{}, workers)
	var mu sync.Mutex
	built := map[string]*earlyBuild{}
	var first error
	var wg sync.WaitGroup
	for _, s := range plan.Steps {
		if !early[s.Name] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[s.Name])
			for _, a := range g.Ancestors(s.Model) {
				if ch := done[a]; ch != nil {
					select {
					case <-ch:
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-slots }()
			if ctx.Err() != nil { // another build failed
				return
			}
			opt.tell(plan, Event{Kind: ModelStarted, Model: s.Name})
			b, err := buildOne(ctx, pool, plan, s, whole)
			if b != nil {
				opt.tell(plan, Event{Kind: ModelBuilt, Model: s.Name, Rows: b.built.Rows, Took: b.built.Duration})
			}
			mu.Lock()
			defer mu.Unlock()
			if b != nil {
				built[s.Name] = b
			}
			if err != nil && first == nil {
				first = err
				cancel()
			}
		}()
	}
	wg.Wait()
	return built, first
}

// buildOne builds one step whole into its __next relation on a connection
// of its own, runs its checks there and commits.
func buildOne(ctx context.Context, pool *pgxpool.Pool, plan *Plan, s *Step, whole wholes) (*earlyBuild, error) {
	tx, err := begin(ctx, pool, plan)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	start := time.Now()
	rows, err := materialize(ctx, tx, plan, s.Model, whole)
	if err != nil {
		return nil, err
	}
	b := &earlyBuild{built: Built{Model: s.Model, Rows: rows, Duration: time.Since(start), Reason: s.Reason}}
	checking := time.Now()
	b.checks, err = runSomeChecks(ctx, tx, &Plan{Steps: []*Step{s}, Citus: plan.Citus}, whole.name,
		func(s *Step, c *dag.Check) bool { return !readsOthersBuilt(s, c, whole) })
	if err != nil {
		return nil, err
	}
	b.checking = time.Since(checking)
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// readsOthersBuilt reports whether a check reads a model other than its
// own that this build builds whole: such a check waits for the publish
// transaction, when every new relation is there.
func readsOthersBuilt(s *Step, c *dag.Check, whole wholes) bool {
	for _, r := range c.Refs() {
		if whole[r] && r != s.Name {
			return true
		}
	}
	return false
}

// dropNext drops the __next relations of models built early, children
// first.
func dropNext(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, built map[string]*earlyBuild) error {
	for i := len(g.Models) - 1; i >= 0; i-- {
		m := g.Models[i]
		if built[m.Name] == nil {
			continue
		}
		if _, err := pool.Exec(ctx, "DROP "+kindOf(m)+" IF EXISTS "+pg.Ident(m.Schema, m.Rel+nextSuffix)); err != nil {
			return err
		}
	}
	return nil
}

// kindOf is the kind of relation a model builds, as DROP names it.
func kindOf(m *dag.Model) string {
	if m.Config.Materialized == dag.View {
		return "VIEW"
	}
	return "TABLE"
}
