package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/percolate/percolate/internal/dag"
	"github.com/percolate/percolate/internal/project"
)

// writeSeeds lists what a run did, or would do, with each seed, after
// prefix; nothing without seeds.
func writeSeeds(w io.Writer, seeds []project.SeedStatus, prefix, verb string) {
	if len(seeds) == 0 {
		return
	}
	load := 0
	for _, s := range seeds {
		if s.Load {
			load++
		}
	}
	fmt.Fprintf(w, "%s%d %s, %d unchanged\n", prefix, load, verb, len(seeds)-load)
	for _, s := range seeds {
		what := "skip"
		if s.Load {
			what = "load"
		}
		fmt.Fprintf(w, "    %s %-28s %d rows, %s (%s)\n", what, s.Seed, s.Rows, s.Reason, s.Path)
	}
}

// writeUses tells, for a model given to lineage, the project functions
// and vars it uses and the seeds it reads.
func writeUses(b *strings.Builder, g *dag.Graph, name string) {
	m := g.Model(name)
	if m == nil {
		return
	}
	fns, vars, seeds := uses(g, m)
	for _, u := range []struct {
		what string
		list []string
	}{{"functions", fns}, {"vars", vars}, {"seeds", seeds}} {
		if len(u.list) > 0 {
			fmt.Fprintf(b, "\n%s %-10s %s\n", name, u.what, strings.Join(u.list, ", "))
		}
	}
}

// uses lists the project functions m calls (with their file and line),
// the vars it reads and the seeds it reads, each never nil.
func uses(g *dag.Graph, m *dag.Model) (fns, vars, seeds []string) {
	fns, vars, seeds = []string{}, append([]string{}, m.Vars...), []string{}
	for _, s := range m.Sources {
		if _, ok := g.Seed(s); ok {
			seeds = append(seeds, s)
		}
	}
	for _, f := range m.Functions {
		fns = append(fns, fmt.Sprintf("%s (%s:%d)", f, g.Function(f).Path, g.Function(f).Line))
	}
	return fns, vars, seeds
}
