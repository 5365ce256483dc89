package build

import (
	"context"
	"fmt"
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

// buildEarly builds the early steps on up to Options.Workers connections
// at once (0: the engine's BuildsAtOnce), each as soon as the early steps
// it reads are committed, and runs each one's checks right after it. It
// returns what it built, also on error, so that the caller can drop it.
func (j *job) buildEarly(ctx context.Context) (map[string]*earlyBuild, error) {
	cores, workers := runtime.NumCPU(), j.opt.Workers
	if workers <= 0 {
		workers = j.plan.Engine.BuildsAtOnce(cores)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sc := newSchedule(j, cores, workers, cancel)
	stop := context.AfterFunc(ctx, func() {
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.cond.Broadcast()
	})
	defer stop()
	var wg sync.WaitGroup
	for _, s := range j.plan.Steps {
		if !j.early[s.Name] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(sc.done[s.Name])
			helpers, ok := sc.take(ctx, s)
			if !ok {
				return
			}
			j.opt.tell(j.plan, Event{Kind: ModelStarted, Model: s.Name})
			b, err := buildOne(ctx, j.pool, j.plan, s, j.whole, helpers)
			if b != nil {
				j.opt.tell(j.plan, Event{Kind: ModelBuilt, Model: s.Name, Rows: b.built.Rows, Took: b.built.Duration})
			}
			sc.finish(s, b, err)
		}()
	}
	wg.Wait()
	return sc.built, sc.first
}

// schedule is where each early step of a build is: waiting for the early
// steps it reads, ready to build and waiting for a free connection,
// started or finished. A ready step waits for a free connection; the
// ready step on the longest chain of work goes first (see chains). A step
// that starts with no other running or ready to run is alone on the
// machine, and may use the idle cores for parallel workers of its own.
type schedule struct {
	workers int // how many steps build at once
	cores   int // the machine's, shared among them
	j       *job
	chain   map[string]time.Duration
	// done is closed when a step is committed (or gave up); waits are,
	// for each early step, the early steps it reads, directly or not: it
	// starts when they are committed.
	done  map[string]chan struct{}
	waits map[string][]string

	mu                       sync.Mutex // over what follows
	cond                     *sync.Cond // a connection came free, or the build stopped
	running                  int
	ready, started, finished map[string]bool
	built                    map[string]*earlyBuild
	first                    error  // the first build that failed
	cancel                   func() // stops the others when one fails
}

func newSchedule(j *job, cores, workers int, cancel func()) *schedule {
	sc := &schedule{workers: workers, cores: cores, j: j, chain: chains(j.g, j.plan, j.early), cancel: cancel,
		done: map[string]chan struct{}{}, waits: map[string][]string{},
		ready: map[string]bool{}, started: map[string]bool{}, finished: map[string]bool{}, built: map[string]*earlyBuild{}}
	sc.cond = sync.NewCond(&sc.mu)
	for _, s := range j.plan.Steps {
		if j.early[s.Name] {
			sc.done[s.Name] = make(chan struct{})
			for _, a := range j.g.Ancestors(s.Model) {
				if j.early[a] {
					sc.waits[s.Name] = append(sc.waits[s.Name], a)
				}
			}
		}
	}
	return sc
}

// take waits until the steps s reads are committed and a connection is
// free for s, and returns how many parallel helpers s may use; ok is
// false when the build stopped meanwhile.
func (sc *schedule) take(ctx context.Context, s *Step) (helpers int, ok bool) {
	for _, a := range sc.waits[s.Name] {
		select {
		case <-sc.done[a]:
		case <-ctx.Done():
			return 0, false
		}
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.ready[s.Name] = true
	for sc.running >= sc.workers || !sc.next(s) {
		if ctx.Err() != nil { // another build failed
			return 0, false
		}
		sc.cond.Wait()
	}
	delete(sc.ready, s.Name)
	if ctx.Err() != nil {
		return 0, false
	}
	sc.running++
	sc.started[s.Name] = true
	return parallelHelpers(sc.cores, sc.workers, sc.alone(s)), true
}

// parallelHelpers is how many parallel workers a step may use beside its
// own backend, on a machine of cores cores where up to workers steps build
// at once: the cores no other build uses when it is alone, else its share
// of them. Built one at a time (--build-jobs 1), each has the machine.
func parallelHelpers(cores, workers int, alone bool) int {
	if alone {
		return max(0, cores-1)
	}
	return max(0, cores/max(1, workers)-1)
}

// finish records what the build of s made and frees its connection; the
// first error stops the other builds.
func (sc *schedule) finish(s *Step, b *earlyBuild, err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.finished[s.Name] = true
	if b != nil {
		sc.built[s.Name] = b
	}
	if err != nil && sc.first == nil {
		sc.first = err
		sc.cancel()
	}
	sc.running--
	sc.cond.Broadcast()
}

// next reports whether no ready step is on a longer chain than self (or
// an equal one, named first). The caller holds mu.
func (sc *schedule) next(self *Step) bool {
	for name := range sc.ready {
		if c := sc.chain[name]; c > sc.chain[self.Name] || c == sc.chain[self.Name] && name < self.Name {
			return false
		}
	}
	return true
}

// alone reports whether no other early step runs or is ready to. The
// caller holds mu.
func (sc *schedule) alone(self *Step) bool {
	for _, o := range sc.j.plan.Steps {
		if !sc.j.early[o.Name] || o == self || sc.finished[o.Name] {
			continue
		}
		if sc.started[o.Name] {
			return false // running
		}
		if !slices.ContainsFunc(sc.waits[o.Name], func(a string) bool { return !sc.finished[a] }) {
			return false // ready
		}
	}
	return true
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
		return nil, fmt.Errorf("build %s: %w", s.Name, err)
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
	one.Steps, one.every = []*Step{s}, plan.Steps
	b.checks, err = runSomeChecks(ctx, tx, &one, whole.name,
		func(s *Step, c *dag.Check) bool { return !readsOthersBuilt(s, c, whole) })
	if err != nil {
		return nil, err
	}
	b.checking = time.Since(checking)
	if err := pg.Commit(ctx, tx); err != nil {
		return nil, fmt.Errorf("commit %s: %w", s.Name, err)
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
