package project

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/percolate/percolate/internal/build"
	"github.com/percolate/percolate/internal/dag"
)

// ModelDiff is a model's diff: the build's, and the panels that read
// what changed.
type ModelDiff struct {
	*build.ModelDiff
	Panels []string `json:"panels"`
}

// DiffReport is what a diff found.
type DiffReport struct {
	Models []ModelDiff `json:"models"`
	// Panels are every dashboard panel that reads a changed column.
	Panels []string            `json:"panels"`
	Checks []build.CheckResult `json:"checks"`
}

// DiffOptions say what a diff compares.
type DiffOptions struct {
	// Select and Exclude pick models (see dag.Graph.Select).
	Select, Exclude []string
	// Sample is how many changed, added and removed rows to keep per model.
	Sample int
	// Wait makes the diff wait for a run holding the lock instead of
	// failing with pg.ErrBusy.
	Wait bool
	// OnBuild is told what the build is doing (see build.Event).
	OnBuild func(build.Event)
	// Env, when set, compares environment Env with live instead (see
	// build.EnvDiff).
	Env string
}

// Diff builds the selected models of g beside the live ones, under the
// run lock, compares them by key and rolls everything back (see
// build.Diff); l names the panels that read what changed. Failing checks
// are reported, and the report comes with an error wrapping
// build.ErrChecks.
func (p *Folder) Diff(ctx context.Context, pool *pgxpool.Pool, g *dag.Graph, l *Lineage, opt DiffOptions) (*DiffReport, error) {
	held, err := p.lock(ctx, pool, opt.Wait)
	if err != nil {
		return nil, err
	}
	defer held.Release()
	seeds, err := p.Seeds()
	if err != nil {
		return nil, err
	}
	fns, err := p.declaredFunctions()
	if err != nil {
		return nil, err
	}
	var res *build.DiffResult
	if opt.Env != "" {
		res, err = build.EnvDiff(ctx, pool, g, opt.Env, opt.Sample)
	} else {
		res, err = build.Diff(ctx, pool, g, build.Options{Select: opt.Select, Exclude: opt.Exclude, OnEvent: opt.OnBuild, Seeds: seeds, Functions: fns}, opt.Sample)
	}
	if err != nil && !errors.Is(err, build.ErrChecks) {
		return nil, err
	}
	return l.diff(res), err
}

// diff adds the panels each model's changes touch.
func (l *Lineage) diff(res *build.DiffResult) *DiffReport {
	rep := &DiffReport{Models: []ModelDiff{}, Panels: []string{}, Checks: res.Checks}
	if rep.Checks == nil {
		rep.Checks = []build.CheckResult{}
	}
	all := map[string]bool{}
	for _, d := range res.Models {
		md := ModelDiff{ModelDiff: d, Panels: l.PanelNames(changedColumns(l, d))}
		for _, p := range md.Panels {
			all[p] = true
		}
		rep.Models = append(rep.Models, md)
	}
	rep.Panels = append(rep.Panels, slices.Sorted(maps.Keys(all))...)
	return rep
}

// changedColumns are the columns of a model's diff whose values changed,
// or all of them when whole rows came or went.
func changedColumns(l *Lineage, d *build.ModelDiff) []string {
	if d.Added+d.Removed > 0 || d.New {
		return l.ModelColumns(d.Model)
	}
	var cols []string
	for c := range d.Columns {
		cols = append(cols, d.Model+"."+c)
	}
	for _, c := range d.ColumnsRemoved {
		cols = append(cols, d.Model+"."+c)
	}
	for c := range d.ColumnsRetyped {
		cols = append(cols, d.Model+"."+c)
	}
	return cols
}
