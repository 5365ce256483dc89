package build

import (
	"context"
	"runtime"
	"slices"
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
	// waits are, for each early step, the early steps it reads, directly or
	// not: it starts when they are committed.
	done := map[string]chan struct{}{}
	waits := map[string][]string{}
	for _, s := range plan.Steps {
		if early[s.Name] {
			done[s.Name] = make(chan struct{})
			for _, a := range g.Ancestors(s.Model) {
				if early[a] {
					waits[s.Name] = append(waits[s.Name], a)
				}
			}
		}
	}
	var mu sync.Mutex
	// A step ready to build waits for a free connection; the ready step on
	// the longest chain of work goes first (see chains). started and
	// finished say, under mu, where each step is: a step that starts with
	// no other running or ready to run is alone on the machine, and may use
	// the idle cores for parallel workers of its own.
	chain := chains(g, plan, early)
	cond := sync.NewCond(&mu)
	running := 0
	ready, started, finished := map[string]bool{}, map[string]bool{}, map[string]bool{}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		cond.Broadcast()
	})
	defer stop()
	next := func(self *Step) bool {
		for name := range ready {
			if c := chain[name]; c > chain[self.Name] || c == chain[self.Name] && name < self.Name {
				return false
			}
		}
		return true
	}
	alone := func(self *Step) bool {
		for _, o := range plan.Steps {
			if !early[o.Name] || o == self || finished[o.Name] {
				continue
			}
			if started[o.Name] {
				return false // running
			}
			if !slices.ContainsFunc(waits[o.Name], func(a string) bool { return !finished[a] }) {
				return false // ready
			}
		}
		return true
	}
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
			for _, a := range waits[s.Name] {
				select {
				case <-done[a]:
				case <-ctx.Done():
					return
				}
			}
			mu.Lock()
			ready[s.Name] = true
			for running >= workers || !next(s) {
				if ctx.Err() != nil { // another build failed
					mu.Unlock()
					return
				}
				cond.Wait()
			}
			delete(ready, s.Name)
			running++
			started[s.Name] = true
			helpers := 0
			if alone(s) {
				helpers = workers - 1
			}
			mu.Unlock()
			defer func() {
				mu.Lock()
				running--
				cond.Broadcast()
				mu.Unlock()
			}()
			if ctx.Err() != nil {
				return
			}
			opt.tell(plan, Event{Kind: ModelStarted, Model: s.Name})
			b, err := buildOne(ctx, pool, plan, s, whole, helpers)
			if b != nil {
				opt.tell(plan, Event{Kind: ModelBuilt, Model: s.Name, Rows: b.built.Rows, Took: b.built.Duration})
			}
			mu.Lock()
			defer mu.Unlock()
			finished[s.Name] = true
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

// chains weighs each early step by the longest chain of early builds that
// starts with it: its own cost, then its heaviest child's chain. A step's
// cost is how long its last build took, or, never built, 1 s for a table
// and nothing for a view. Starting the heaviest chain first keeps the
// last cores busy to the end: the year's product mart, then the product
// days that wait for it, first, beside the other marts (1 s less than
// starting them in name order).
func chains(g *dag.Graph, plan *Plan, early map[string]bool) map[string]time.Duration {
	out := map[string]time.Duration{}
	for i := len(plan.Steps) - 1; i >= 0; i-- { // children first
		s := plan.Steps[i]
		if !early[s.Name] {
			continue
		}
		cost := s.took
		if cost == 0 && s.Model.Config.Materialized != dag.View {
			cost = time.Second
		}
		var heaviest time.Duration
		for _, c := range g.Children(s.Model) {
			heaviest = max(heaviest, out[c])
		}
		out[s.Name] = cost + heaviest
	}
	return out
}

// buildOne builds one step whole into its __next relation on a connection
// of its own, runs its checks there and commits. A step built alone may
// have helpers: parallel workers on the cores no other build uses (the
// year's core.repeated_orders, which every mart waits for: 1.0 s to
// 0.7 s with one).
func buildOne(ctx context.Context, pool *pgxpool.Pool, plan *Plan, s *Step, whole wholes, helpers int) (*earlyBuild, error) {
	tx, err := begin(ctx, pool, plan)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	if err := plan.Engine.SetHelpers(ctx, tx, helpers); err != nil {
		return nil, err
	}
	start := time.Now()
	rows, err := materialize(ctx, tx, plan, s.Model, whole)
	if err != nil {
		return nil, err
	}
	b := &earlyBuild{built: Built{Model: s.Model, Rows: rows, Duration: time.Since(start), Reason: s.Reason}}
	checking := time.Now()
	one := *plan // the step alone, with everything else the plan knows
	one.Steps = []*Step{s}
	b.checks, err = runSomeChecks(ctx, tx, &one, whole.name,
		func(s *Step, c *dag.Check) bool { return !readsOthersBuilt(s, c, whole) })
	if err != nil {
		return nil, err
	}
	b.checking = time.Since(checking)
	if err := pg.Commit(ctx, tx); err != nil {
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
		if err := dropRelation(ctx, pool, m.Schema, m.Rel+nextSuffix, true); err != nil {
			return err
		}
	}
	return nil
}
